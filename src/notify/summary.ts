/** One line per delivery that did not make it, for the CLI's stderr at exit. */
import type { OutboxEntry } from './outbox.ts';

export function describeUndelivered(
  failed: readonly OutboxEntry[],
  pending: readonly OutboxEntry[],
): string[] {
  return [
    ...failed.map(
      (e) =>
        `notification ${e.target.name} (${e.event.type}, event ${e.event.id}) not delivered: ${e.lastError ?? 'failed'}`,
    ),
    ...pending.map(
      (e) =>
        `notification ${e.target.name} (${e.event.type}, event ${e.event.id}) still pending at exit after ${e.attempts} attempt(s)${e.lastError ? `: ${e.lastError}` : ''}`,
    ),
  ];
}
