/**
 * PromQL checked with the official grammar (@prometheus-io/lezer-promql, the parser of the
 * Prometheus UI), so a typo fails at `plan validate`, not during a release.
 */
import { parser } from '@prometheus-io/lezer-promql';

/** The first syntax problem, or undefined when the query parses. */
export function promqlProblem(query: string): { at: number; message: string } | undefined {
  const tree = parser.parse(query);
  let at: number | undefined;
  tree.iterate({
    enter(node) {
      if (at !== undefined) return false;
      if (node.type.isError) at = node.from;
      return undefined;
    },
  });
  if (at === undefined) return undefined;
  const near = query.slice(Math.max(0, at - 15), at + 15);
  return { at, message: `PromQL syntax error at character ${at + 1} (near "${near}")` };
}
