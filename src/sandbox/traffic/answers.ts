/**
 * The JSON bodies the sandbox backends answer with. The load generator reads them to tell which
 * colour and versions served a request, so both sides share these schemas.
 */
import { z } from 'zod';

export const ComponentAnswer = z
  .object({
    component: z.string(),
    colour: z.string().nullable(),
    version: z.string(),
    namespace: z.string(),
  })
  .loose();
export type ComponentAnswer = z.infer<typeof ComponentAnswer>;

/** What an entry point that calls a backend (e.g. my-frontend) answers. */
export const StackAnswer = ComponentAnswer.extend({ backend: ComponentAnswer });
export type StackAnswer = z.infer<typeof StackAnswer>;

/** The body of every non-2xx answer a backend or the gateway produces itself. */
export interface ErrorAnswer {
  error: string;
  [key: string]: unknown;
}
