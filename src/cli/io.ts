/** What every CLI command is given, and the option parsers they share. */
import { UsageError } from '../shared/errors.ts';
import type { Terminal } from './output.ts';

export interface CliIo extends Terminal {
  env: NodeJS.ProcessEnv;
  now?: () => number;
}

export function parsePositiveInt(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) <= 0)
      throw new UsageError(`${flag} must be a positive whole number`);
    return Number(value);
  };
}
