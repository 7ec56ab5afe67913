import { registerApp } from '../src/app';
import { DurableHost, installFunctionsCore } from '../src/local/durable-host';
import { startLocalEnvironment } from '../src/local/environment';
import { instanceIdFor, ORCHESTRATOR } from '../src/orchestrations/contract';
async function main() {
  const registry = installFunctionsCore();
  const env = await startLocalEnvironment(Array.from({length: 8}, (_, i) => ({ id: `p${i}`, role: `p_${i}` })));
  registerApp(() => env.deps);
  const host = new DurableHost({ registry, clock: 'virtual' });
  for (let i = 0; i < 8; i++) {
    const t = performance.now();
    const iid = await host.startNew(ORCHESTRATOR, { instanceId: instanceIdFor(`p${i}`), input: { credentialId: `p${i}`, reason: 'manual' } });
    const st = await host.waitForCompletion(iid, { timeoutMs: 60000 });
    const total = performance.now() - t;
    const stages = (st.customStatus as any).stages.map((s: any) => `${s.stage}:${s.durationMs}`).join(' ');
    console.log(total.toFixed(0), stages);
  }
  await host.close(); await env.stop();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
