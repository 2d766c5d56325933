/** values set: a reviewed, audited edit of arbitrary scalars in one values file of the repo. */
import { commitMessage } from '../audit.ts';
import type { OperationContext } from './context.ts';
import { commitStep, editValues, valuesNotices } from './commit-and-sync.ts';
import { formatKeyPath } from '../../config/names.ts';

export interface ValuesSetRequest {
  file: string;
  edits: { path: string[]; value: string | number | boolean | null }[];
  stack?: string;
}

export async function valuesSet(ctx: OperationContext, request: ValuesSetRequest) {
  const notices = valuesNotices(ctx);
  const outcome = await commitStep(ctx, `edit ${request.file}`, async (tx) => {
    const source = await tx.readFile(request.file);
    const updated = editValues(
      source,
      request.file,
      request.edits.map((e) => [e.path, e.value] as const),
      notices,
    );
    if (updated === source) return { kind: 'noop', result: undefined };
    const keys = request.edits
      .map((e) => `${formatKeyPath(e.path)}=${JSON.stringify(e.value)}`)
      .join(', ');
    return {
      kind: 'commit',
      files: { [request.file]: updated },
      message: commitMessage(
        `values: set ${keys} in ${request.file}`,
        'values-set',
        request.stack ?? '*',
        ctx.actor,
      ),
      result: undefined,
    };
  });
  return {
    committed: outcome.committed,
    sha: outcome.sha,
    attempts: outcome.attempts,
    file: request.file,
  };
}
