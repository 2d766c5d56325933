/**
 * The example config the sandbox seeds from, optionally without the stacks' `verification`
 * blocks: a sandbox without Prometheus or a gateway (most tests) keeps the plain flip, while
 * `sandbox up`, `npm start` and the verification tests keep the gates. The copy keeps every
 * comment of stackswap.yaml (yaml's Document API).
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { SEEDED_ENTRIES } from './seed.ts';

export async function sourceWithoutVerification(sourceDir: string): Promise<{
  dir: string;
}> {
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
  for (const item of stacks?.items ?? []) {
    doc.deleteIn([
      'stacks',
      String((item.key as { value?: unknown }).value ?? item.key),
      'verification',
    ]);
  }
  await writeFile(file, doc.toString());
  return { dir };
}
