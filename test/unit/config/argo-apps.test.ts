import { describe, expect, it } from 'vitest';
import {
  StackswapConfigFile,
  appsWaitingForSyncWindows,
  resolveConfig,
  rootApps,
  type StackswapConfig,
} from '../../../src/config/stackswap-config.ts';

const stack = (extra: Record<string, unknown> = {}) => ({ components: ['web'], ...extra });

function resolve(stacks: Record<string, unknown>): StackswapConfig {
  const resolved = resolveConfig(StackswapConfigFile.parse({ version: 1, stacks }));
  if (Array.isArray(resolved)) throw new Error(JSON.stringify(resolved));
  return resolved;
}

describe('the Argo CD apps a config names', () => {
  it('lists the root apps, and the apps of the stacks that wait for sync windows', () => {
    const config = resolve({
      shop: stack({
        argocd: { root: 'shop-root', waitForWindow: true },
        live: { file: 'apps/ingress/shop.yaml' },
      }),
      blog: stack({ live: { file: 'apps/ingress/blog.yaml' } }),
    });
    expect(rootApps(config)).toEqual(['shop-root']);
    expect(appsWaitingForSyncWindows(config).sort()).toEqual(
      ['shop-blue', 'shop-green', 'ingress', 'shop-root'].sort(),
    );
  });
});
