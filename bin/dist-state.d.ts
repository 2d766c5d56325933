/** Types of bin/dist-state.js (plain JavaScript, run by bin/stackswap.js before any build). */
export declare const ROOT: string;
export declare const DIST_MAIN: string;
export declare const BUNDLE_DIR: string;
export declare const BUNDLE_MAIN: string;
export type DistState =
  | { fresh: true; checkout: boolean; main: string }
  | { fresh: false; checkout: boolean; reason: string };
export declare function distState(): DistState;
/** Builds dist/ when stale (tsc -p tsconfig.build.json); throws when it cannot. */
export declare function buildIfStale(log?: (line: string) => void): void;
