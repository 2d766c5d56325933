/** The verification metrics of the service: gate results, last values, stack info, weights. */
import { describe, expect, it } from 'vitest';
import { ServerMetrics } from '../../../src/server/metrics.ts';

describe('verification metrics', () => {
  it('counts gates by phase and result and keeps the last value of each metric', async () => {
    const metrics = new ServerMetrics({ defaultMetrics: false });
    metrics.verificationObserved('my-app', [
      { phase: 'pre-swap on green', result: 'passed', metrics: [] },
      {
        phase: 'step 10% on green',
        result: 'failed',
        metrics: [{ name: 'error-rate', measurements: [{ value: 0.01 }, { value: 0.31 }, {}] }],
      },
    ]);
    metrics.stackObserved('my-app', 'blue', 'green');
    metrics.stackObserved('my-app', 'green', 'blue');
    metrics.deployToSwapObserved('my-app', 120);
    const { body } = await metrics.render();
    expect(body).toContain(
      'stackswap_analysis_runs_total{stack="my-app",phase="pre-swap",result="passed"} 1',
    );
    expect(body).toContain(
      'stackswap_analysis_runs_total{stack="my-app",phase="step",result="failed"} 1',
    );
    expect(body).toContain(
      'stackswap_analysis_last_value{stack="my-app",phase="step",metric="error-rate"} 0.31',
    );
    expect(body).toContain('stackswap_stack_info{stack="my-app",live="green",preview="blue"} 1');
    expect(body).not.toContain('stackswap_stack_info{stack="my-app",live="blue"');
    expect(body).toContain('stackswap_traffic_weight{stack="my-app",colour="green"} 100');
    expect(body).toContain('stackswap_traffic_weight{stack="my-app",colour="blue"} 0');
    expect(body).toContain('stackswap_deploy_to_swap_seconds_count{stack="my-app"} 1');
  });
});
