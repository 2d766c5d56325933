/**
 * Copies of the example config the sandbox seeds from, with stackswap.yaml edited through
 * yaml's Document API (every comment kept). A sandbox without Prometheus or a gateway (most
 * tests) drops the stacks' `verification` blocks and keeps the plain flip; `npm start` adds
 * notifications; tests shorten the gates.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseDocument, type Document } from 'yaml';
import { SEEDED_ENTRIES } from './seed.ts';

export interface ExampleCopy {
  dir: string;
  remove(): Promise<void>;
}

/** Copies the example into a temporary directory; `edit` gets stackswap.yaml and every stack name. */
export async function exampleSourceWith(
  sourceDir: string,
  edit: (doc: Document, stacks: string[]) => void,
): Promise<ExampleCopy> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stackswap-example-'));
  for (const entry of SEEDED_ENTRIES) {
    await cp(path.join(sourceDir, entry), path.join(dir, entry), {
      recursive: true,
      filter: (source) => !/(^|\/)(node_modules|\.git)(\/|$)/.test(source),
    }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
  const file = path.join(dir, 'stackswap.yaml');
  const doc = parseDocument(await readFile(file, 'utf8'));
  const stacks = doc.get('stacks') as { items?: { key: unknown }[] } | undefined;
  const names = (stacks?.items ?? []).map((item) =>
    String((item.key as { value?: unknown }).value ?? item.key),
  );
  edit(doc, names);
  await writeFile(file, doc.toString());
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export function sourceWithoutVerification(sourceDir: string): Promise<ExampleCopy> {
  return exampleSourceWith(sourceDir, (doc, stacks) => {
    for (const name of stacks) doc.deleteIn(['stacks', name, 'verification']);
  });
}
