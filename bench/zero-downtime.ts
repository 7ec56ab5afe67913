import { registerApp } from '../src/app';
import { DurableHost, installFunctionsCore } from '../src/local/durable-host';
import { LOCAL_DATABASE, LOCAL_RESOURCE_GROUP, LOCAL_SUBSCRIPTION, liveLoginOf, secretNameFor, startLocalEnvironment, type LocalCredentialSpec, type LocalEnvironment } from '../src/local/environment';
import { instanceIdFor, ORCHESTRATOR } from '../src/orchestrations/contract';
import type { RotationStatus } from '../src/rotation/status';
import { startConsumers } from './consumers';

export interface RotationUnderLoad {
  outcome: string;
  refused: number;
  /** Alternating users: the login this rotation retired refuses its old password afterwards. */
  oldLoginRefused?: boolean;
}

export interface StrategyUnderLoad {
  strategy: 'alternating-users' | 'single-user';
  rotations: RotationUnderLoad[];
  attempts: number;
  ok: number;
  refused: number;
  failures: Record<string, number>;
  /** The longest a client went from a refused login to its next accepted one. */
  windowMs: number;
}

// The simulated clients read the live secret (and its role tag) from Key Vault when their app
// restarts: the restart-only consumer mode.
const SPECS: LocalCredentialSpec[] = [
  { id: 'load-alt', role: 'loadalt', strategy: 'alternating-users', containerApps: [{ app: 'load-alt-app', mode: 'restart-only' }] },
  { id: 'load-single', role: 'loadsingle', containerApps: [{ app: 'load-single-app', mode: 'restart-only' }] },
];

/**
 * The load proof: clients that connect, query and disconnect in a loop, each holding the
 * credential it was last given and taking the live one only when its Container App is
 * restarted, while the orchestration rotates the credential again and again.
 */
export async function loadProof(options: { rotations: number; clients: number; settleMs: number }): Promise<StrategyUnderLoad[]> {
  const registry = installFunctionsCore();
  const env = await startLocalEnvironment(SPECS);
  registerApp(() => env.deps);
  const host = new DurableHost({ registry, clock: 'virtual' });
  env.useClock(() => host.now().getTime());
  try {
    const results: StrategyUnderLoad[] = [];
    for (const spec of SPECS) results.push(await underLoad(env, host, spec, options));
    return results;
  } finally {
    await host.close();
    await env.stop();
  }
}

async function underLoad(env: LocalEnvironment, host: DurableHost, spec: LocalCredentialSpec, options: { rotations: number; clients: number; settleMs: number }): Promise<StrategyUnderLoad> {
  const consumers = startConsumers({
    postgres: { host: env.postgres.host, port: env.postgres.port, database: LOCAL_DATABASE },
    vault: env.vault,
    secretName: secretNameFor(spec.id),
    containerApps: env.containerApps,
    app: { subscription: LOCAL_SUBSCRIPTION, resourceGroup: LOCAL_RESOURCE_GROUP, name: spec.containerApps![0].app },
    clients: options.clients,
    initial: { user: liveLoginOf(spec), password: env.initialPasswords.get(spec.id)! },
    durationMs: 10 * 60_000,
  });
  const rotations: RotationUnderLoad[] = [];
  try {
    await pause(options.settleMs);
    for (let i = 0; i < options.rotations; i += 1) {
      const before = consumers.stats().refused;
      const old = env.vault.versions(secretNameFor(spec.id)).at(-1)!;
      const instanceId = await host.startNew(ORCHESTRATOR, { instanceId: instanceIdFor(spec.id), input: { credentialId: spec.id, reason: 'manual' } });
      const status = await host.waitForCompletion(instanceId, { timeoutMs: 120_000 });
      await pause(options.settleMs);
      const rotation: RotationUnderLoad = { outcome: (status.customStatus as RotationStatus).outcome, refused: consumers.stats().refused - before };
      if (spec.strategy === 'alternating-users') rotation.oldLoginRefused = (await env.login(old.tags.role, old.value)) !== 'accepted';
      rotations.push(rotation);
    }
  } finally {
    await consumers.stop();
  }
  const stats = consumers.stats();
  return { strategy: spec.strategy ?? 'single-user', rotations, attempts: stats.attempts, ok: stats.ok, refused: stats.refused, failures: stats.failures, windowMs: stats.refusedWindowMs };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `npm run bench -- zero-downtime [rotations] [clients]` */
export async function zeroDowntimeBench(args: string[]): Promise<void> {
  const rotations = Number(args[0] ?? 5);
  const clients = Number(args[1] ?? 8);
  const results = await loadProof({ rotations, clients, settleMs: 500 });
  for (const r of results) {
    console.log(`${r.strategy}: ${r.attempts} connection attempts by ${clients} clients, ${r.ok} accepted, ${r.refused} refused, other failures ${JSON.stringify(r.failures)}`);
    r.rotations.forEach((x, i) => console.log(`  rotation ${i + 1}: ${x.outcome}, refused logins ${x.refused}${x.oldLoginRefused === undefined ? '' : `, old login refused afterwards: ${x.oldLoginRefused}`}`));
    if (r.strategy === 'single-user') console.log(`  longest refused window per client: ${r.windowMs} ms`);
  }
  const [alt, single] = results;
  console.log(`alternating-users refused=${alt.refused} single-user refused=${single.refused} window-ms=${single.windowMs}`);
}
