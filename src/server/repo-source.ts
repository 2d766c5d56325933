/**
 * A config repo clone that is opened on first use and opened again on the next use after a
 * failure. The service starts even when the remote is unreachable or refuses the token at boot
 * (in a cluster that is a running pod whose /readyz says what is wrong, not CrashLoopBackOff),
 * and recovers by itself when the remote comes back: /readyz asks every 2 s.
 *
 * A bad setting (a malformed URL, a local path outside sandbox mode) is a ValidationError from
 * ConfigRepo.open before git runs; that one still stops the start, since no retry can mend it.
 */
import type { ConfigRepo } from '../gitops/git/repo.ts';
import { isStackswapError } from '../shared/errors.ts';

export interface RepoProvider {
  /** The opened clone; rejects with the open's error while the remote cannot be reached. */
  get(): Promise<ConfigRepo>;
}

export class RepoSource implements RepoProvider {
  private repo: ConfigRepo | undefined;
  private opening: Promise<ConfigRepo> | undefined;

  constructor(private readonly open: () => Promise<ConfigRepo>) {}

  get(): Promise<ConfigRepo> {
    if (this.repo) return Promise.resolve(this.repo);
    this.opening ??= this.open()
      .then((repo) => (this.repo = repo))
      .finally(() => {
        this.opening = undefined;
      });
    return this.opening;
  }

  /**
   * The first open, at start: a setting error is thrown, a remote failure is returned (the
   * service starts not-ready and tries again on the next use).
   */
  async openAtStart(): Promise<unknown> {
    try {
      await this.get();
      return undefined;
    } catch (e) {
      if (isStackswapError(e) && (e.code === 'validation' || e.code === 'usage')) throw e;
      return e;
    }
  }
}
