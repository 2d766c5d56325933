/**
 * Commit messages in git's trailer format, and commits read back from `git log`. The audit trail
 * is the trailers, so they are validated strictly: keys are `Capitalised-Words`, values one line.
 * A value cannot smuggle another trailer, and the trailer block is always the last paragraph,
 * so nothing in the subject or body can be mistaken for one.
 */
import { ValidationError } from '../../shared/errors.ts';

export interface CommitMessage {
  subject: string;
  body?: string;
  /** Written in insertion order as `Key: value` lines after a blank line. */
  trailers: Record<string, string>;
}

export interface CommitInfo {
  sha: string;
  subject: string;
  /** The message body without the trailer block. */
  body: string;
  authorName: string;
  authorEmail: string;
  /** Author date, strict ISO 8601. */
  date: string;
  /** Every trailer of the commit, values in order of appearance. */
  trailers: Record<string, string[]>;
}

export const TRAILER_KEY = /^[A-Z][A-Za-z0-9-]*$/;
const MAX_SUBJECT = 500;
const MAX_TRAILER_VALUE = 1000;
const TRAILER_LINE = /^([A-Za-z0-9][A-Za-z0-9-]*):\s?(.*)$/;

function invalid(message: string): never {
  throw new ValidationError(`commit message: ${message}`, { where: { key: 'commit.message' } });
}

/** Validates and renders a message; the result is used verbatim (`--cleanup=verbatim`). */
export function formatCommitMessage(message: CommitMessage): string {
  const subject = typeof message.subject === 'string' ? message.subject.trim() : '';
  if (subject.length === 0) invalid('subject is empty');
  if (/[\0-\x1f\x7f]/.test(subject)) invalid('subject must be a single line of text');
  if (subject.length > MAX_SUBJECT) invalid(`subject is longer than ${MAX_SUBJECT} characters`);

  const body = (message.body ?? '').replace(/\r\n/g, '\n').trim();
  if (/[\0-\x08\x0b-\x1f\x7f]/.test(body)) invalid('body contains a control character');

  const trailerLines: string[] = [];
  for (const [key, rawValue] of Object.entries(message.trailers ?? {})) {
    if (!TRAILER_KEY.test(key)) invalid(`trailer key "${key}" must match ${TRAILER_KEY.source}`);
    if (typeof rawValue !== 'string') invalid(`trailer ${key} must be a string`);
    const value = rawValue.trim();
    if (value.length === 0) invalid(`trailer ${key} is empty`);
    if (/[\0-\x1f\x7f]/.test(value)) invalid(`trailer ${key} must be a single line`);
    if (value.length > MAX_TRAILER_VALUE) {
      invalid(`trailer ${key} is longer than ${MAX_TRAILER_VALUE} characters`);
    }
    trailerLines.push(`${key}: ${value}`);
  }
  // Without our own trailer block, the body's last paragraph would be read as one.
  if (trailerLines.length === 0 && body && looksLikeTrailers(lastParagraph(body))) {
    invalid('the body ends with "Key: value" lines, which would be read as trailers');
  }

  const paragraphs = [
    subject,
    ...(body ? [body] : []),
    ...(trailerLines.length ? [trailerLines.join('\n')] : []),
  ];
  return `${paragraphs.join('\n\n')}\n`;
}

function lastParagraph(text: string): string {
  return text.split(/\n[ \t]*\n/).at(-1) ?? '';
}

function looksLikeTrailers(paragraph: string): boolean {
  return paragraph.split('\n').some((line) => TRAILER_LINE.test(line.trim()));
}

const FIELD = '\x1f';
const RECORD = '\x1e';

/** `git log --format=` producing what `parseLog` reads. */
export const LOG_FORMAT = ['%H', '%s', '%b', '%an', '%ae', '%aI', '%(trailers:only,unfold)']
  .join('%x1f')
  .concat('%x1e');

export function parseLog(output: string): CommitInfo[] {
  const commits: CommitInfo[] = [];
  for (const record of output.split(RECORD)) {
    const fields = record.replace(/^\n/, '').split(FIELD);
    if (fields.length < 7) continue;
    const [sha, subject, body, authorName, authorEmail, date, trailerText] = fields as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const trailers: Record<string, string[]> = {};
    for (const line of trailerText.split('\n')) {
      const m = TRAILER_LINE.exec(line.trim());
      if (m) (trailers[m[1]!] ??= []).push(m[2]!.trim());
    }
    commits.push({
      sha,
      subject,
      body: stripTrailerBlock(body, trailerText),
      authorName,
      authorEmail,
      date,
      trailers,
    });
  }
  return commits;
}

/** The body as written, minus the final trailer paragraph git reported. */
function stripTrailerBlock(body: string, trailerText: string): string {
  const trimmed = body.trim();
  if (!trailerText.trim()) return trimmed;
  const paragraphs = trimmed.split(/\n[ \t]*\n/);
  const last = paragraphs.at(-1) ?? '';
  if (last.split('\n').every((line) => TRAILER_LINE.test(line.trim()) || /^\s/.test(line))) {
    paragraphs.pop();
  }
  return paragraphs.join('\n\n').trim();
}
