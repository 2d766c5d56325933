/**
 * Validators for every name that ends up in a file path, a git pathspec, a YAML key path or an
 * image reference. Input is checked here, before git, helm or the filesystem ever see it.
 */
import { z } from 'zod';

/**
 * Names refused as YAML map keys, component names and key path segments: they mean something to JavaScript objects. yaml's
 * toJS keeps `__proto__` as an own property, but zod records then drop it silently, and naive
 * lookups or merges follow `constructor` / `prototype` into Object.prototype.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

export const COLOURS = ['blue', 'green'] as const;
export type Colour = (typeof COLOURS)[number];
export const Colour = z.enum(COLOURS, { error: () => 'colour must be "blue" or "green"' });
export const otherColour = (c: Colour): Colour => (c === 'blue' ? 'green' : 'blue');

/** Kubernetes DNS-1123 label, which also keeps names safe inside paths and git pathspecs. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const ResourceName = z
  .string()
  .max(53, 'at most 53 characters (Helm release name limit)')
  .regex(DNS_LABEL, 'must be lower-case letters, digits and "-", starting and ending alphanumeric');

/** OCI distribution spec tag grammar: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
export const OCI_TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const ImageTag = z
  .string({
    error: (i) =>
      i.input === undefined ? 'version is missing' : 'version must be a string; quote it',
  })
  .regex(OCI_TAG, 'not a valid OCI image tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})');

/**
 * A path inside the config repo: relative, normalised, no "..", no pathspec magic, no leading
 * "-" (git option injection), no control characters. Symlinks are checked when files are read.
 */
export const RepoPath = z.string().superRefine((p, ctx) => {
  const problem = repoPathProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export function repoPathProblem(p: string): string | undefined {
  if (p.length === 0) return 'path is empty';
  if (/[\0-\x1f\x7f]/.test(p)) return 'path contains a control character';
  if (p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p))
    return 'path must be relative to the config repo';
  if (p.includes('\\')) return 'path must use "/" separators';
  const parts = p.split('/');
  if (parts.some((s) => s === '..')) return 'path escapes the config repo ("..")';
  if (parts.some((s) => s === '' || s === '.')) return 'path must be normalised (no "//", "./")';
  if (parts.some((s) => s.startsWith('-'))) return 'path segments must not start with "-"';
  if (p.startsWith(':')) return 'path must not start with ":" (git pathspec magic)';
  if (parts[0] === '.git') return 'path must not point into .git';
  return undefined;
}

/**
 * A YAML key path written as dots: `global.live`, `my-frontend.image.tag`. A literal dot inside a
 * key is escaped with a backslash: `podAnnotations.example\.com/team`.
 */
export function parseKeyPath(text: string): string[] {
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && (text[i + 1] === '.' || text[i + 1] === '\\')) {
      current += text[++i];
    } else if (ch === '.') {
      segments.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  segments.push(current);
  if (segments.some((s) => s.length === 0))
    throw new Error(`key path "${text}" has an empty segment`);
  return segments;
}

export function formatKeyPath(path: readonly string[]): string {
  return path.map((s) => s.replace(/\\/g, '\\\\').replace(/\./g, '\\.')).join('.');
}

export const KeyPath = z.string().transform((text, ctx) => {
  try {
    return parseKeyPath(text);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

/** Git branch names we accept: a strict allow-list, then `git check-ref-format` in the git layer. */
export const BranchName = z
  .string()
  .regex(
    /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/-]{1,200}(?<![./])$/,
    'not a valid branch name',
  )
  .refine((b) => !b.endsWith('.lock') && !b.startsWith('/'), 'not a valid branch name');
