/** What `npm start -- --keep` prints: where the running sandbox is and how to use the CLI on it. */
import type { Sandbox } from '../sandbox/sandbox.ts';
import { HOST } from './scenario.ts';

export function keepInstructions(sandbox: Sandbox): string {
  const gateway = sandbox.traffic?.url.href ?? '(no gateway)';
  const exports = Object.entries(sandbox.env)
    .map(([name, value]) => `export ${name}=${shellQuote(value)}`)
    .join('\n');
  return [
    '',
    'the sandbox keeps running (Ctrl-C stops it and deletes its folder):',
    `  gateway           ${gateway}`,
    `  Argo CD stand-in  ${sandbox.argocd.url}`,
    `  config repo       ${sandbox.repoPath}`,
    '',
    `  curl -H 'Host: ${HOST}' ${gateway}`,
    `  curl -H 'Host: ${HOST}' -H 'x-stackswap-preview: true' ${gateway}`,
    '',
    'in another shell:',
    '',
    exports,
    'node bin/stackswap.js status          # or: npx stackswap status',
    'node bin/stackswap.js deploy --set my-frontend=1.4.0 --set my-backend=1.4.0',
    'node bin/stackswap.js swap',
    '',
  ].join('\n');
}

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@=+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
