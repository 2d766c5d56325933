import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MissingSystemPackage,
  findBinary,
  provideSystemPackages,
  requireBinary,
} from '../../helpers/system-packages.ts';

describe('system packages for the tests', () => {
  const absent = { binary: 'stackswap-no-such-binary', debianPackage: 'stackswap-no-such-package' };

  it('finds a binary on PATH or in the extra search paths', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'syspkg-'));
    const bin = path.join(dir, 'fake-tool');
    writeFileSync(bin, '#!/bin/sh\n');
    chmodSync(bin, 0o755);
    const pkg = { binary: 'fake-tool', debianPackage: 'fake', searchPaths: [dir] };
    expect(findBinary(pkg, { PATH: '/nonexistent' })).toBe(bin);
    expect(findBinary({ ...pkg, searchPaths: [] }, { PATH: '/nonexistent' })).toBeUndefined();
  });

  it('names the package in one line when it cannot be provided', () => {
    let error: unknown;
    try {
      requireBinary(absent);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MissingSystemPackage);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toContain('stackswap-no-such-package');
    expect(message).toContain('apt-get install stackswap-no-such-package');
  });

  it('installs nothing when everything is there', () => {
    const lines: string[] = [];
    expect(
      provideSystemPackages([{ binary: 'git', debianPackage: 'git' }], (l) => lines.push(l)),
    ).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('fails with the one-line message when apt cannot provide a package', () => {
    // Root with apt: apt-get is asked and answers that the package does not exist. Otherwise the
    // set-up refuses to try. Either way the error names the package.
    expect(() => provideSystemPackages([absent], () => {})).toThrow(/stackswap-no-such-package/);
  }, 120_000);
});
