import { Client } from 'pg';
import { registerApp } from '../src/app';
import { DurableHost, installFunctionsCore } from '../src/local/durable-host';
import { secretNameFor, startLocalEnvironment, type LocalEnvironment } from '../src/local/environment';
import { instanceIdFor, ORCHESTRATOR } from '../src/orchestrations/contract';
import { generatePassword, scramSha256Verifier } from '../src/rotation/password';

/**
 * What the staged, durable rotation costs over the bare manual procedure (write Key Vault,
 * ALTER ROLE, log in with SELECT 1), both against the same embedded PostgreSQL and Key
 * Vault emulator in this process, single user with no consumers. One untimed rotation of
 * each first pays the process's one-off costs (Key Vault's authentication challenge, the
 * admin password read). Prints medians and their ratio, then the round trips of the staged
 * rotation: the most any round made of Key Vault requests, PostgreSQL connection attempts,
 * activity calls and history events.
 */
export async function rotationBench(args: string[]): Promise<void> {
  const rounds = Number(args[0] ?? 20);
  const specs = Array.from({ length: rounds + 1 }, (_, i) => [{ id: `bare-${i}`, role: `bare_${i}` }, { id: `staged-${i}`, role: `staged_${i}` }]).flat();
  const registry = installFunctionsCore();
  const env = await startLocalEnvironment(specs);
  registerApp(() => env.deps);
  const host = new DurableHost({ registry, clock: 'virtual' });
  const connections = countConnectionAttempts();
  try {
    await bareRotation(env, rounds);
    await stagedRotation(host, rounds);
    const bare = { ms: [] as number[], vault: 0 };
    const staged = { ms: [] as number[], vault: 0 };
    const trips = { vault: 0, postgres: 0, activities: 0, history: 0 };
    for (let i = 0; i < rounds; i += 1) {
      await measure(env, bare, () => bareRotation(env, i));
      const vaultBefore = env.vault.requests.length;
      const postgresBefore = connections.count;
      const instanceId = await measure(env, staged, () => stagedRotation(host, i));
      const history = host.history(instanceId);
      trips.vault = Math.max(trips.vault, env.vault.requests.length - vaultBefore);
      trips.postgres = Math.max(trips.postgres, connections.count - postgresBefore);
      trips.activities = Math.max(trips.activities, history.filter((e) => e.EventType === TASK_SCHEDULED).length);
      trips.history = Math.max(trips.history, history.length);
    }
    const b = median(bare.ms);
    const s = median(staged.ms);
    console.log(`rounds=${rounds}, interleaved`);
    console.log(`bare manual procedure   median ${b.toFixed(1)} ms, ${(bare.vault / rounds).toFixed(1)} Key Vault requests each`);
    console.log(`staged durable rotation median ${s.toFixed(1)} ms, ${(staged.vault / rounds).toFixed(1)} Key Vault requests each (grace timer on the virtual clock)`);
    console.log(`rotation staged/bare ratio=${(s / b).toFixed(2)} kv-requests=${trips.vault} pg-connections=${trips.postgres} activities=${trips.activities} history-events=${trips.history}`);
  } finally {
    connections.restore();
    await host.close();
    await env.stop();
  }
}

/** DurableTask's HistoryEventType.TaskScheduled: one per activity call. */
export const TASK_SCHEDULED = 4;

/** Every connection attempt any pg client in this process makes, refused ones included. */
export function countConnectionAttempts(): { readonly count: number; restore(): void } {
  const connect = Client.prototype.connect;
  const counter = { count: 0, restore: () => void (Client.prototype.connect = connect) };
  Client.prototype.connect = function (this: Client, ...args: unknown[]) {
    counter.count += 1;
    return (connect as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof connect;
  return counter;
}

async function bareRotation(env: LocalEnvironment, i: number): Promise<void> {
  const credential = env.config.credentials.find((c) => c.id === `bare-${i}`)!;
  const password = generatePassword(32);
  await env.deps.vault(credential.keyVault.url).write('bench', secretNameFor(credential.id), password, { tags: {} });
  const postgres = env.deps.postgres(credential);
  await postgres.setPasswordVerifier('bench', credential.postgres.role!, await scramSha256Verifier(password));
  await postgres.probe('bench', credential.postgres.role!, password);
}

async function stagedRotation(host: DurableHost, i: number): Promise<string> {
  const instanceId = await host.startNew(ORCHESTRATOR, { instanceId: instanceIdFor(`staged-${i}`), input: { credentialId: `staged-${i}`, reason: 'manual' } });
  const status = await host.waitForCompletion(instanceId, { timeoutMs: 60_000 });
  if (status.runtimeStatus !== 'Completed') throw new Error(`rotation staged-${i} ended ${status.runtimeStatus}`);
  return instanceId;
}

async function measure<T>(env: LocalEnvironment, into: { ms: number[]; vault: number }, work: () => Promise<T>): Promise<T> {
  const requestsBefore = env.vault.requests.length;
  const started = performance.now();
  const result = await work();
  into.ms.push(performance.now() - started);
  into.vault += env.vault.requests.length - requestsBefore;
  return result;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
