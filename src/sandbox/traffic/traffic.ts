/**
 * The sandbox's traffic side in one call: backends for the view's Deployments and a gateway
 * routing by its VirtualServices. Close it to stop both.
 */
import { BackendPool, type BackendPoolOptions } from './backends.ts';
import type { ClusterView } from './cluster-view.ts';
import { Gateway, type GatewayOptions } from './gateway.ts';

export interface SandboxTraffic {
  pool: BackendPool;
  gateway: Gateway;
  /** Where to send requests (the gateway). */
  url: URL;
  close(): Promise<void>;
}

export async function startSandboxTraffic(
  view: ClusterView,
  options: { backends?: BackendPoolOptions; gateway?: GatewayOptions } = {},
): Promise<SandboxTraffic> {
  const pool = await BackendPool.start(view, options.backends);
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(view, pool, options.gateway);
  } catch (error) {
    await pool.close();
    throw error;
  }
  return {
    pool,
    gateway,
    url: gateway.url,
    async close() {
      await gateway.close();
      await pool.close();
    },
  };
}
