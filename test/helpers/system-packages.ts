/**
 * System packages the tests need (Debian's rsync, prometheus, postgresql, chromium). The README
 * promises two set-up commands, so the test set-up provides them itself: when a binary is
 * missing and we are root with apt, it is installed; otherwise the run fails with one line naming
 * the package. A test that needs a real server is never silently skipped.
 *
 * `provideSystemPackages` runs once in vitest's global set-up; tests call `requireBinary` to get
 * the path (which throws the same one-line message if the set-up could not provide it).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export interface SystemPackage {
  /** The executable the tests run. */
  binary: string;
  /** The Debian package that ships it. */
  debianPackage: string;
  /** Extra places to look (Debian puts some server binaries off PATH). */
  searchPaths?: readonly string[];
}

export const RSYNC: SystemPackage = { binary: 'rsync', debianPackage: 'rsync' };

/** The real Prometheus server the verification tests scrape the sandbox with. */
export const PROMETHEUS: SystemPackage = {
  binary: 'prometheus',
  debianPackage: 'prometheus',
  searchPaths: ['/usr/bin'],
};

/** The PostgreSQL server (Debian keeps initdb and postgres off PATH, per major version). */
export const POSTGRESQL: SystemPackage = {
  binary: 'initdb',
  debianPackage: 'postgresql',
  searchPaths: [
    '/usr/lib/postgresql/17/bin',
    '/usr/lib/postgresql/16/bin',
    '/usr/lib/postgresql/15/bin',
    '/usr/lib/postgresql/14/bin',
    '/usr/lib/postgresql/13/bin',
  ],
};

/**
 * Debian's Chromium, driven by playwright-core (`executablePath`) in the dashboard's browser
 * tests: never a browser downloaded by Playwright.
 */
export const CHROMIUM: SystemPackage = {
  binary: 'chromium',
  debianPackage: 'chromium',
  searchPaths: ['/usr/bin'],
};

/** Every package the suite needs; global-setup provides them all before any test file runs. */
export const TEST_PACKAGES: readonly SystemPackage[] = [RSYNC, PROMETHEUS, POSTGRESQL, CHROMIUM];

export class MissingSystemPackage extends Error {
  constructor(pkg: SystemPackage, why: string) {
    super(
      `missing system package: ${pkg.debianPackage} (no \`${pkg.binary}\`; ${why}): install it with \`apt-get install ${pkg.debianPackage}\``,
    );
    this.name = 'MissingSystemPackage';
  }
}

/** The absolute path of `pkg.binary`, or undefined when it is not installed. */
export function findBinary(
  pkg: SystemPackage,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const dirs = [...(env.PATH ?? '').split(path.delimiter), ...(pkg.searchPaths ?? [])];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, pkg.binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Throws a one-line MissingSystemPackage unless the binary is there. */
export function requireBinary(pkg: SystemPackage): string {
  const found = findBinary(pkg);
  if (!found) throw new MissingSystemPackage(pkg, 'the test set-up could not install it');
  return found;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Installs whatever is missing with one apt-get call (root only). Returns the packages it
 * installed; throws MissingSystemPackage for the first one it could not provide.
 */
export function provideSystemPackages(
  packages: readonly SystemPackage[] = TEST_PACKAGES,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): string[] {
  const missing = packages.filter((pkg) => !findBinary(pkg));
  if (missing.length === 0) return [];
  const names = [...new Set(missing.map((pkg) => pkg.debianPackage))];
  if (!isRoot() || !findBinary({ binary: 'apt-get', debianPackage: 'apt' })) {
    throw new MissingSystemPackage(
      missing[0]!,
      'not root with apt-get, so the tests cannot install it',
    );
  }
  log(`test set-up: installing ${names.join(', ')} with apt-get`);
  const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]) =>
    execFileSync('apt-get', args, {
      env: aptEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 900_000,
    });
  try {
    apt(['install', '-y', '-qq', '--no-install-recommends', ...names]);
  } catch {
    // A fresh machine has no package lists yet.
    try {
      apt(['update', '-qq']);
      apt(['install', '-y', '-qq', '--no-install-recommends', ...names]);
    } catch (e) {
      const stderr = String((e as { stderr?: Buffer }).stderr ?? '')
        .trim()
        .split('\n')
        .pop();
      throw new MissingSystemPackage(missing[0]!, `apt-get failed: ${stderr || String(e)}`);
    }
  }
  const still = missing.find((pkg) => !findBinary(pkg));
  if (still) throw new MissingSystemPackage(still, 'apt-get install did not provide it');
  return names;
}
