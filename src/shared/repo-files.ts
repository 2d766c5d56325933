/**
 * What the operations need from a checkout of the config repo: read a file. Both a
 * ConfigRepo and a Transaction (one attempt of a compare-and-swap) satisfy it, so state is
 * always derived from exactly the commit the operation will build on.
 */
export interface RepoReader {
  readonly headSha: string;
  readFile(path: string): Promise<string>;
  fileExists(path: string): Promise<boolean>;
}
