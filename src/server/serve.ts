/**
 * Runs the service until SIGTERM or SIGINT: listen, then on the signal stop accepting new
 * operations (503), give running ones the grace period (STACKSWAP_SHUTDOWN_GRACE_SECONDS),
 * stop the rest at a safe point and record them, close the server and the journal.
 */
import { createService, type ServiceOptions } from './service.ts';

export interface ServeOptions extends ServiceOptions {
  port: number;
  host: string;
  /** Called with the address once listening (the CLI prints it). */
  onListening?: (address: string) => void;
  /** The process to take signals from (tests may pass an EventEmitter). */
  signals?: Pick<NodeJS.Process, 'once' | 'removeListener'>;
}

export async function runServe(options: ServeOptions): Promise<void> {
  const service = await createService(options);
  const signals = options.signals ?? process;
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
    signals.once('SIGTERM', onSignal);
    signals.once('SIGINT', onSignal);
  });
  try {
    const address = await service.app.listen({ port: options.port, host: options.host });
    service.logger.info({ address, dataDir: service.dataDir }, 'listening');
    options.onListening?.(address);
  } catch (e) {
    signals.removeListener('SIGTERM', onSignal);
    signals.removeListener('SIGINT', onSignal);
    await service.shutdown({ graceMs: 0, settleMs: 0 });
    throw e;
  }
  const signal = await stopped;
  signals.removeListener('SIGTERM', onSignal);
  signals.removeListener('SIGINT', onSignal);
  service.logger.info({ signal }, 'shutting down');
  await service.shutdown();
}
