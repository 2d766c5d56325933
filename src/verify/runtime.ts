/**
 * What a verification run needs besides the config: the Prometheus and ingress URLs from the
 * environment (which override the config, so the sandbox can point at its own ports), the
 * HTTP dispatcher for checks and a clock. Built per run; close it afterwards.
 */
import type { Dispatcher } from 'undici';
import type { StackVerification } from '../config/stackswap-config.ts';
import { systemClock, type VerifyClock } from './clock.ts';
import { checkDispatcher } from './http-check.ts';
import { prometheusClient, type PrometheusClient } from './prometheus-client.ts';

export interface VerifyEnvironment {
  /** STACKSWAP_PROMETHEUS_URL */
  prometheusUrl?: string;
  /** STACKSWAP_INGRESS_URL */
  ingressUrl?: string;
  clock?: VerifyClock;
}

export interface VerifyRuntime {
  prometheus: PrometheusClient | undefined;
  dispatcher: Dispatcher;
  clock: VerifyClock;
  ingress: { url: string | undefined; host: string | undefined; previewHeader: string };
  close(): Promise<void>;
}

export function verifyRuntime(v: StackVerification, env: VerifyEnvironment = {}): VerifyRuntime {
  const promUrl = env.prometheusUrl ?? v.prometheus.url;
  const prometheus = promUrl
    ? prometheusClient(promUrl, { timeoutMs: v.prometheus.timeout })
    : undefined;
  const dispatcher = checkDispatcher();
  return {
    prometheus,
    dispatcher,
    clock: env.clock ?? systemClock,
    ingress: {
      url: env.ingressUrl ?? v.ingress.url,
      host: v.ingress.host,
      previewHeader: v.ingress.previewHeader,
    },
    async close() {
      await Promise.all([prometheus?.close(), dispatcher.close()]);
    },
  };
}
