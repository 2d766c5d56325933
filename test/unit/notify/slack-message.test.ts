/** The Block Kit message of a StackEvent: what changed, versions before and after, who, links, figures. */
import { describe, expect, it } from 'vitest';
import { StackEvent } from '../../../src/shared/events.ts';
import { parseRetryAfter } from '../../../src/notify/deliver.ts';
import { slackMessage } from '../../../src/notify/slack-message.ts';

const event = (over: Partial<StackEvent> & Pick<StackEvent, 'type'>): StackEvent =>
  StackEvent.parse({
    id: 'op-1.3',
    at: '2026-12-02T12:00:00.000Z',
    stack: 'shop',
    operationId: 'op-1',
    operation: 'swap',
    actor: 'alice',
    live: 'green',
    preview: 'blue',
    versions: { blue: { web: '1.1.0', api: '1.1.0' }, green: { web: '1.2.0', api: '1.1.0' } },
    commit: {
      sha: 'abcdef0123456789abcdef0123456789abcdef01',
      url: 'https://gitlab.example.com/ops/config/-/commit/abcdef0123456789abcdef0123456789abcdef01',
    },
    ...over,
  });

describe('slack message', () => {
  it('a swap: headline, versions before -> after per component, who, the commit link', () => {
    const m = slackMessage(event({ type: 'swap.finished' }));
    expect(m.text).toBe('shop: swapped; green is live');
    const text = JSON.stringify(m.blocks);
    expect(text).toContain('*shop: swapped; green is live*');
    expect(text).toContain('api: 1.1.0 → 1.1.0\\nweb: 1.1.0 → 1.2.0');
    expect(text).toContain('*Who*\\nalice');
    expect(text).toContain(
      '<https://gitlab.example.com/ops/config/-/commit/abcdef0123456789abcdef0123456789abcdef01|abcdef012345>',
    );
    expect(m.blocks.at(-1)).toMatchObject({ type: 'context' });
  });

  it('an automatic revert says why and shows the verification figures of event.data', () => {
    const m = slackMessage(
      event({
        type: 'revert.finished',
        operation: 'swap',
        automatic: true,
        reason: 'post-swap analysis failed: error-rate 0.31 >= 0.02',
        data: {
          phase: 'post-swap',
          result: 'failed',
          metrics: [
            {
              name: 'error-rate',
              result: 'failed',
              measurements: [{ value: 0.01 }, { value: 0.3127 }],
            },
            { name: 'p99-latency', result: 'inconclusive', measurements: [] },
          ],
        },
      }),
    );
    expect(m.text).toBe(
      'shop: automatically reverted; green is live (post-swap analysis failed: error-rate 0.31 >= 0.02)',
    );
    const text = JSON.stringify(m.blocks);
    expect(text).toContain('*Why*\\npost-swap analysis failed: error-rate 0.31 &gt;= 0.02');
    expect(text).toContain('error-rate: 0.3127 (failed)');
    expect(text).toContain('p99-latency: no data (inconclusive)');
    expect(text).toContain('phase: post-swap');
  });

  it('escapes Slack control characters and keeps within the block limits', () => {
    const m = slackMessage(
      event({ type: 'operation.failed', reason: `<!channel> ${'x'.repeat(5000)}` }),
    );
    const why = m.blocks.find((b) => JSON.stringify(b).includes('*Why*')) as {
      text: { text: string };
    };
    expect(why.text.text.startsWith('*Why*\n&lt;!channel&gt;')).toBe(true);
    expect(why.text.text.length).toBeLessThanOrEqual(3000);
  });

  it('Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-12-02T12:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 02 Dec 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
