import { describe, expect, it } from 'vitest';
import {
  StackswapConfigFile,
  resolveConfig,
  type StackswapConfig,
} from '../../../src/config/stackswap-config.ts';
import { parseSetPairs, checkPlanAgainstStack } from '../../../src/config/release-plan.ts';

function resolve(file: unknown): StackswapConfig {
  const resolved = resolveConfig(StackswapConfigFile.parse(file));
  if (Array.isArray(resolved)) throw new Error(JSON.stringify(resolved));
  return resolved;
}

describe('stackswap.yaml', () => {
  it('fills the conventional layout from a minimal entry', () => {
    const config = resolve({ version: 1, stacks: { shop: { components: ['web', 'api'] } } });
    const shop = config.stacks.get('shop')!;
    expect(shop.colourValuesFile).toEqual({
      blue: 'apps/shop/values-blue.yaml',
      green: 'apps/shop/values-green.yaml',
    });
    expect(shop.components).toEqual([
      { name: 'web', tagKey: ['web', 'image', 'tag'] },
      { name: 'api', tagKey: ['api', 'image', 'tag'] },
    ]);
    expect(shop.namespaces).toEqual({ blue: 'shop-blue', green: 'shop-green' });
    expect(shop.apps).toEqual({ blue: 'shop-blue', green: 'shop-green', ingress: 'ingress' });
    expect(shop.liveFile).toBe('apps/ingress/values.yaml');
    expect(shop.liveKey).toEqual(['global', 'live']);
    expect(shop.planFile).toBe('releases/shop.yaml');
    expect(shop.replicas).toBe(2);
    expect(shop.retentionMs).toBe(30 * 60_000);
  });

  it('supports a shared ingress file with one live key per stack', () => {
    const config = resolve({
      version: 1,
      stacks: {
        a: {
          components: ['x'],
          live: { file: 'apps/ingress/values.yaml', key: 'global.{stack}Live' },
        },
        b: {
          components: { x: { tagKey: 'images.x' } },
          live: { key: 'global.{stack}Live' },
          retention: '90s',
        },
      },
    });
    expect(config.stacks.get('a')!.liveKey).toEqual(['global', 'aLive']);
    expect(config.stacks.get('b')!.components[0]!.tagKey).toEqual(['images', 'x']);
    expect(config.stacks.get('b')!.retentionMs).toBe(90_000);
  });

  it('reports a path that escapes the repo with its key', () => {
    const problems = resolveConfig(
      StackswapConfigFile.parse({
        version: 1,
        stacks: { a: { components: ['x'], plan: '../../etc/{stack}.yaml' } },
      }),
    );
    expect(problems).toEqual([
      {
        key: ['stacks', 'a', 'plan'],
        message: 'path escapes the config repo ("..") (got "../../etc/a.yaml")',
      },
    ]);
  });

  it('refuses two stacks sharing one live key', () => {
    const problems = resolveConfig(
      StackswapConfigFile.parse({
        version: 1,
        stacks: { a: { components: ['x'] }, b: { components: ['y'] } },
      }),
    );
    expect(Array.isArray(problems) && problems[0]?.message).toMatch(
      /share the live key global.live/,
    );
  });

  it('refuses a colour file without {colour}', () => {
    const problems = resolveConfig(
      StackswapConfigFile.parse({
        version: 1,
        stacks: { a: { components: ['x'], values: { colourFile: 'v.yaml' } } },
      }),
    );
    expect(Array.isArray(problems) && problems.map((p) => p.key.join('.'))).toContain(
      'stacks.a.values.colourFile',
    );
  });

  it.each([
    [{ version: 2, stacks: { a: { components: ['x'] } } }, 'version'],
    [{ version: 1, stacks: { A_B: { components: ['x'] } } }, 'stacks.A_B'],
    [{ version: 1, stacks: { a: { components: [] } } }, 'stacks.a.components'],
    [{ version: 1, stacks: { a: { components: ['x'], replicas: 0 } } }, 'stacks.a.replicas'],
    [{ version: 1, stacks: { a: { components: ['x'], colour: 'red' } } }, 'stacks.a'],
  ])('rejects %j at %s', (file, key) => {
    const result = StackswapConfigFile.safeParse(file);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.'))).toContain(key);
  });
});

describe('release plans', () => {
  const stack = resolve({
    version: 1,
    stacks: { shop: { components: ['web', 'api'] } },
  }).stacks.get('shop')!;

  it('needs every component and no unknown one', () => {
    expect(checkPlanAgainstStack({ web: '1', api: '2' }, stack, {})).toEqual({
      web: '1',
      api: '2',
    });
    expect(() => checkPlanAgainstStack({ web: '1' }, stack, { file: 'p.yaml' })).toThrow(
      /no version for api/,
    );
    expect(() => checkPlanAgainstStack({ web: '1', api: '2', db: '3' }, stack, {})).toThrow(
      /unknown component "db"/,
    );
  });

  it('parses --set pairs strictly', () => {
    expect(parseSetPairs(['web=1.2.3', 'api=v2'])).toEqual({ web: '1.2.3', api: 'v2' });
    expect(() => parseSetPairs(['web'])).toThrow(/component=version/);
    expect(() => parseSetPairs(['web=bad tag'])).toThrow(/not a valid OCI image tag/);
    expect(() => parseSetPairs(['Web=1'])).toThrow(/component/);
  });
});
