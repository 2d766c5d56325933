/** The logging the stand-in needs; a pino logger fits. Silent unless one is passed. */
export interface StandInLogger {
  debug(details: object, message: string): void;
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export const silentLogger: StandInLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
