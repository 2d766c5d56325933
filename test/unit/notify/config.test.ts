/** The `notifications` block of stackswap.yaml: env var names only, one kind each, event types checked. */
import { describe, expect, it } from 'vitest';
import { parseStructuralConfig } from '../../../src/core/config-file.ts';
import { ValidationError } from '../../../src/shared/errors.ts';

const base = (notifications: string) =>
  `version: 1\nstacks:\n  shop:\n    components: [web]\n    notifications:\n${notifications}`;

function problem(source: string): ValidationError {
  try {
    parseStructuralConfig(base(source));
  } catch (e) {
    if (e instanceof ValidationError) return e;
    throw e;
  }
  throw new Error('expected a ValidationError');
}

describe('notifications config', () => {
  it('resolves targets with names, kinds, env var names and the default event types', () => {
    const config = parseStructuralConfig(
      base(
        '      - slack: { urlEnv: STACKSWAP_NOTIFY_SLACK }\n' +
          '      - name: audit\n' +
          '        webhook: { urlEnv: STACKSWAP_NOTIFY_AUDIT_URL, secretEnv: STACKSWAP_NOTIFY_AUDIT_SECRET }\n' +
          "        on: ['*']\n",
      ),
    );
    expect(config.stacks.get('shop')!.notifications).toEqual([
      {
        name: 'slack-1',
        kind: 'slack',
        urlEnv: 'STACKSWAP_NOTIFY_SLACK',
        on: [
          'deploy.finished',
          'swap.finished',
          'revert.finished',
          'scale-down.finished',
          'operation.failed',
        ],
      },
      {
        name: 'audit',
        kind: 'webhook',
        urlEnv: 'STACKSWAP_NOTIFY_AUDIT_URL',
        secretEnv: 'STACKSWAP_NOTIFY_AUDIT_SECRET',
        on: ['*'],
      },
    ]);
  });

  it('a stack without the block has no notifications', () => {
    const config = parseStructuralConfig('version: 1\nstacks:\n  shop:\n    components: [web]\n');
    expect(config.stacks.get('shop')!.notifications).toBeUndefined();
  });

  it('refuses an inline URL: webhook URLs are secrets and come from the environment', () => {
    const e = problem('      - slack: { url: https://hooks.slack.com/services/T/B/x }\n');
    expect(e.message).toMatch(
      /^urlEnv \(the incoming-webhook URL\): .* never written in stackswap.yaml/,
    );
    expect(e.where).toMatchObject({ key: 'stacks.shop.notifications.0.slack.urlEnv', line: 6 });
  });

  it('refuses a variable outside STACKSWAP_NOTIFY_ (no pointing at another credential)', () => {
    const e = problem('      - slack: { urlEnv: STACKSWAP_GIT_TOKEN }\n');
    expect(e.message).toMatch(/STACKSWAP_NOTIFY_/);
  });

  it('a webhook needs its secret; one kind per entry; known event types; unique names', () => {
    expect(problem('      - webhook: { urlEnv: STACKSWAP_NOTIFY_A }\n').message).toMatch(
      /^secretEnv \(the signing secret\)/,
    );
    expect(
      problem(
        '      - slack: { urlEnv: STACKSWAP_NOTIFY_A }\n        webhook: { urlEnv: STACKSWAP_NOTIFY_B, secretEnv: STACKSWAP_NOTIFY_C }\n',
      ).message,
    ).toMatch(/exactly one of slack or webhook/);
    expect(
      problem('      - slack: { urlEnv: STACKSWAP_NOTIFY_A }\n        on: [swap.done]\n').message,
    ).toMatch(/an event type/);
    expect(
      problem(
        '      - { name: x, slack: { urlEnv: STACKSWAP_NOTIFY_A } }\n      - { name: x, slack: { urlEnv: STACKSWAP_NOTIFY_B } }\n',
      ).message,
    ).toMatch(/duplicate name x/);
  });
});
