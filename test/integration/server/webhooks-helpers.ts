/** Shared set-up of the webhook tests: a config repo, MR branches in it, signed deliveries. */
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { git } from '../../helpers/config-repo.ts';
import type { WebhookDelivery } from '../../helpers/fake-forge/index.ts';

export const GITLAB_SECRET = 'gitlab-hook-secret-5f4dcc3b5aa765d6';
export const GITHUB_SECRET = 'github-hook-secret-7c6a180b36896a0a';
export const FORGE_TOKEN = 'forge-token-0123456789abcdef';
export const PROJECT = 'group/config';

/** Pushes `branch` (from `from`) with `files` changed to the bare repo; returns its head. */
export function pushBranch(
  bare: string,
  branch: string,
  files: Record<string, string>,
  from = 'main',
): string {
  const work = mkdtempSync(path.join(os.tmpdir(), 'stackswap-mr-'));
  git(work, 'clone', '-q', '--branch', from, bare, '.');
  git(work, 'checkout', '-q', '-B', branch);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
    writeFileSync(path.join(work, file), text);
  }
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', `change on ${branch}`);
  git(work, 'push', '-q', '-f', 'origin', branch);
  return git(work, 'rev-parse', 'HEAD');
}

/** A plan file for `stack` with every component at `tag`. */
export function planFile(stack: string, tag: string, components = ['web', 'api']): string {
  return `stack: ${stack}\ncomponents:\n${components.map((c) => `  ${c}: "${tag}"\n`).join('')}`;
}

/** Forwards the fake forge's deliveries to the service (its URL is known only after listen). */
export class Forwarder {
  base = '';
  readonly answers: Array<{ event: string; status: number; body: unknown }> = [];
  callback = async (d: WebhookDelivery) => {
    const forge = 'x-gitlab-event' in lower(d.headers) ? 'gitlab' : 'github';
    const r = await fetch(`${this.base}/v1/webhooks/${forge}`, {
      method: 'POST',
      headers: d.headers,
      body: d.body,
    });
    this.answers.push({ event: d.event, status: r.status, body: await r.json() });
  };
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

export function githubSignature(body: string, secret = GITHUB_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * A squash merge through the fake's API, as the merge button with "squash commits" does. (A
 * merge commit or a fast-forward would do on a real forge, which keeps listing a merged MR's
 * files; the fake lists them against the target's head, empty once the head is merged.)
 */
export async function squashMerge(
  forge: { gitlab: string } | { github: string },
  number: number,
): Promise<void> {
  const r =
    'gitlab' in forge
      ? await fetch(
          `${forge.gitlab}/projects/${encodeURIComponent(PROJECT)}/merge_requests/${number}/merge`,
          {
            method: 'PUT',
            headers: { 'private-token': FORGE_TOKEN, 'content-type': 'application/json' },
            body: JSON.stringify({ squash: true }),
          },
        )
      : await fetch(`${forge.github}/repos/${PROJECT}/pulls/${number}/merge`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${FORGE_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ merge_method: 'squash' }),
        });
  if (!r.ok) throw new Error(`merge of ${number}: ${r.status} ${await r.text()}`);
}
