/**
 * Writes git objects straight into a repository's object store, as `git hash-object -w` and
 * `git mktree` would, without a git process each: a loose object is the zlib-deflated
 * `<type> <size>\0<body>` at `objects/<first 2 hex>/<rest>`, named by the sha1 (or sha256) of
 * those bytes. As git does, the object is written to a temporary file in its fan-out directory
 * and linked into place, so a reader (or a kill) never sees a half-written object; an object
 * that is already there is kept. Git ignores the `tmp_obj_*` files a killed run may leave, and
 * `git gc` prunes them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { StackswapError } from '../../shared/errors.ts';

export type LooseObjectType = 'blob' | 'tree';

/** One entry of a tree object to write. `oid` in hex; `mode` as git prints it (040000, 100644…). */
export interface TreeEntryInput {
  mode: string;
  name: string;
  oid: string;
}

/** The id of an object (sha1 for 40-hex repos, sha256 for 64-hex ones). */
export function objectId(type: LooseObjectType, body: Buffer, idLength: number): string {
  return createHash(idLength === 64 ? 'sha256' : 'sha1')
    .update(`${type} ${body.length}\0`)
    .update(body)
    .digest('hex');
}

/**
 * The body of a tree object, entries in git's order (a directory sorts as if its name ended
 * in "/"), as mktree writes it. Refuses what mktree refuses: empty names, names with "/" or
 * NUL, "." and "..", duplicates, ids of the wrong length.
 */
export function treeBody(entries: readonly TreeEntryInput[], idLength: number): Buffer {
  const named = entries.map((e) => {
    const mode = e.mode.replace(/^0+/, '');
    if (!/^(40000|100644|100755|120000|160000)$/.test(mode)) {
      throw new StackswapError(
        'internal',
        `tree entry ${JSON.stringify(e.name)}: bad mode ${e.mode}`,
      );
    }
    if (!e.name || e.name === '.' || e.name === '..' || /[/\0]/.test(e.name)) {
      throw new StackswapError('internal', `tree entry ${JSON.stringify(e.name)}: bad name`);
    }
    if (e.oid.length !== idLength || !/^[0-9a-f]+$/.test(e.oid)) {
      throw new StackswapError('internal', `tree entry ${JSON.stringify(e.name)}: bad id`);
    }
    const name = Buffer.from(e.name, 'utf8');
    const key = mode === '40000' ? Buffer.concat([name, Buffer.from('/')]) : name;
    return { mode, name, key, oid: Buffer.from(e.oid, 'hex') };
  });
  named.sort((a, b) => Buffer.compare(a.key, b.key));
  const parts: Buffer[] = [];
  for (let i = 0; i < named.length; i++) {
    const e = named[i]!;
    if (i > 0 && named[i - 1]!.name.equals(e.name)) {
      throw new StackswapError('internal', `tree entry ${e.name.toString('utf8')}: duplicate name`);
    }
    parts.push(Buffer.from(`${e.mode} `), e.name, Buffer.from([0]), e.oid);
  }
  return Buffer.concat(parts);
}

/** Stores an object in `gitDir` (a bare repository) and returns its id. */
export async function writeLooseObject(
  gitDir: string,
  type: LooseObjectType,
  body: Buffer,
  idLength: number,
): Promise<string> {
  const id = objectId(type, body, idLength);
  const dir = path.join(gitDir, 'objects', id.slice(0, 2));
  const file = path.join(dir, id.slice(2));
  // Already stored (loose): the same id is the same content.
  if (await lstat(file).catch(() => undefined)) return id;
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `tmp_obj_${randomBytes(6).toString('hex')}`);
  const data = deflateSync(Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]));
  await writeFile(tmp, data, { flag: 'wx', mode: 0o444 });
  try {
    await link(tmp, file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // EEXIST: another writer stored the same object first. Without hard links: rename.
    if (code !== 'EEXIST') await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
  return id;
}
