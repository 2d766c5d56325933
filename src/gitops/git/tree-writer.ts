/**
 * Builds the tree of a new commit without a working tree or an index: the changed blobs, and one
 * tree per directory on the way from a changed file to the root, bottom-up, written as loose
 * objects in-process (loose-objects.ts; no git process per object). Unchanged subtrees keep their ids, so the cost is the depth of the changed
 * paths, not the size of the repo, and no blob of the partial clone is fetched for it.
 */
import { StackswapError, ValidationError } from '../../shared/errors.ts';
import { objectId, treeBody, type LooseObjectType } from './loose-objects.ts';
import type { Snapshot, TreeEntry } from './snapshot.ts';

export interface ObjectWriter {
  /** Stores an object (a blob, or a tree body from `treeBody`); returns its id. */
  writeObject(
    type: LooseObjectType,
    body: Buffer,
    idLength: number,
    signal?: AbortSignal,
  ): Promise<string>;
}

interface DirChanges {
  files: Map<string, string>;
  dirs: Map<string, DirChanges>;
}

/** The git id of a blob with `content`, computed locally (sha1 or sha256 by the id length). */
export function blobId(content: Buffer, idLength: number): string {
  return objectId('blob', content, idLength);
}

/**
 * The root tree of `base` with `files` (repo path -> content) written; `changed` false when
 * every file already has that content. Refuses to write through a file, onto a directory or a
 * symlink (the snapshot's lookup refuses symlinks and submodules on the way).
 */
export async function writeFiles(
  base: Snapshot,
  files: readonly [string, string][],
  writer: ObjectWriter,
  signal?: AbortSignal,
): Promise<{ tree: string; changed: boolean }> {
  const root = await base.tree();
  const idLength = root.length;
  const changes: DirChanges = { files: new Map(), dirs: new Map() };
  for (const [file, content] of files) {
    const found = await base.lookup(file);
    if (found.kind === 'directory') {
      throw new ValidationError(`refusing to write ${file}: not a regular file`, {
        where: { file },
      });
    }
    if (found.kind === 'missing' && found.blockedBy) {
      throw new ValidationError(
        `refusing to write ${file}: ${found.blockedBy} is not a directory`,
        {
          where: { file },
        },
      );
    }
    const bytes = Buffer.from(content, 'utf8');
    const id = blobId(bytes, idLength);
    if (found.kind === 'file' && found.entry.oid === id) continue;
    const written = await writer.writeObject('blob', bytes, idLength, signal);
    if (written !== id) {
      throw new StackswapError('internal', `git stored ${file} as ${written}, expected ${id}`);
    }
    const parts = file.split('/');
    let dir = changes;
    for (const segment of parts.slice(0, -1)) {
      let next = dir.dirs.get(segment);
      if (!next) {
        next = { files: new Map(), dirs: new Map() };
        dir.dirs.set(segment, next);
      }
      dir = next;
    }
    dir.files.set(parts.at(-1)!, id);
  }
  if (changes.files.size === 0 && changes.dirs.size === 0) return { tree: root, changed: false };
  const tree = await writeDir(base, root, changes, writer, idLength, signal);
  return { tree, changed: tree !== root };
}

async function writeDir(
  base: Snapshot,
  oid: string | undefined,
  changes: DirChanges,
  writer: ObjectWriter,
  idLength: number,
  signal: AbortSignal | undefined,
): Promise<string> {
  const entries = new Map<string, TreeEntry>();
  for (const entry of oid ? await base.readTree(oid) : []) entries.set(entry.name, entry);
  for (const [name, sub] of changes.dirs) {
    const existing = entries.get(name);
    const child = await writeDir(
      base,
      existing?.type === 'tree' ? existing.oid : undefined,
      sub,
      writer,
      idLength,
      signal,
    );
    entries.set(name, { mode: '040000', type: 'tree', oid: child, name });
  }
  for (const [name, blob] of changes.files) {
    const existing = entries.get(name);
    // An executable file stays executable; anything else becomes a regular file.
    const mode = existing?.mode === '100755' ? '100755' : '100644';
    entries.set(name, { mode, type: 'blob', oid: blob, name });
  }
  return writer.writeObject('tree', treeBody([...entries.values()], idLength), idLength, signal);
}
