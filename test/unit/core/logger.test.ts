import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/shared/logger.ts';
import { Redactor } from '../../../src/shared/redact.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, destination };
}

describe('logger redaction', () => {
  const secret = 'glpat-AbCdEf0123456789xyz';

  it('removes a registered secret from every path a log line can carry it', () => {
    const redactor = new Redactor();
    redactor.add(secret, { username: 'ci' });
    const { lines, destination } = capture();
    const log = createLogger({ redactor, destination, level: 'debug' });
    const error = new Error(`push failed for https://ci:${secret}@gitlab.example.com/x.git`);
    log.info(`message with ${secret}`);
    log.info({ err: error }, 'error object');
    log.info({ nested: { deeper: { note: `x ${encodeURIComponent(secret)} y` } } }, 'nested');
    log.info({ url: `https://gitlab.example.com/x?private_token=${secret}` }, 'url');
    log.info({ header: `Basic ${Buffer.from(`ci:${secret}`).toString('base64')}` }, 'basic');
    log.info({ token: 'short' }, 'secret-named key');
    const text = lines.join('');
    expect(lines).toHaveLength(6);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(Buffer.from(`ci:${secret}`).toString('base64'));
    expect(text).not.toContain('"token":"short"');
    expect(text).toContain('[REDACTED]');
  });

  it('strips credentials from URLs even when they were never registered', () => {
    const { lines, destination } = capture();
    createLogger({ redactor: new Redactor(), destination }).warn(
      'clone https://bob:hunter22@example.com/r.git',
    );
    expect(lines.join('')).toContain('https://[REDACTED]@example.com/r.git');
  });
});
