import { registerApp } from '../src/app';
import { DurableHost, installFunctionsCore } from '../src/local/durable-host';
import { secretNameFor, startLocalEnvironment, type LocalEnvironment } from '../src/local/environment';
import { instanceIdFor, ORCHESTRATOR } from '../src/orchestrations/contract';
import { generatePassword, scramSha256Verifier } from '../src/rotation/password';

/**
 * What the staged, durable rotation costs over the bare manual procedure (write Key Vault,
 * ALTER ROLE, log in with SELECT 1), both against the same embedded PostgreSQL and Key
 * Vault emulator in this process. Prints medians and their ratio.
 */
export async function rotationBench(args: string[]): Promise<void> {
  const rounds = Number(args[0] ?? 20);
  const specs = Array.from({ length: rounds }, (_, i) => [{ id: `bare-${i}`, role: `bare_${i}` }, { id: `staged-${i}`, role: `staged_${i}` }]).flat();
  const registry = installFunctionsCore();
  const env = await startLocalEnvironment(specs);
  registerApp(() => env.deps);
  const host = new DurableHost({ registry, clock: 'virtual' });
  try {
    const bare = { ms: [] as number[], vault: 0 };
    const staged = { ms: [] as number[], vault: 0 };
    for (let i = 0; i < rounds; i += 1) {
      await measure(env, bare, () => bareRotation(env, i));
      await measure(env, staged, () => stagedRotation(host, i));
    }
    const b = median(bare.ms);
    const s = median(staged.ms);
    console.log(`rounds=${rounds}, interleaved`);
    console.log(`bare manual procedure   median ${b.toFixed(1)} ms, ${(bare.vault / rounds).toFixed(1)} Key Vault requests each`);
    console.log(`staged durable rotation median ${s.toFixed(1)} ms, ${(staged.vault / rounds).toFixed(1)} Key Vault requests each (grace timer on the virtual clock)`);
    console.log(`rotation staged/bare ratio=${(s / b).toFixed(2)}`);
  } finally {
    await host.close();
    await env.stop();
  }
}

async function bareRotation(env: LocalEnvironment, i: number): Promise<void> {
  const credential = env.config.credentials.find((c) => c.id === `bare-${i}`)!;
  const password = generatePassword(32);
  await env.deps.vault(credential.keyVault.url).write('bench', secretNameFor(credential.id), password, { tags: {} });
  const postgres = env.deps.postgres(credential);
  await postgres.setPasswordVerifier('bench', credential.postgres.role!, await scramSha256Verifier(password));
  await postgres.probe('bench', credential.postgres.role!, password);
}

async function stagedRotation(host: DurableHost, i: number): Promise<void> {
  const instanceId = await host.startNew(ORCHESTRATOR, { instanceId: instanceIdFor(`staged-${i}`), input: { credentialId: `staged-${i}`, reason: 'manual' } });
  const status = await host.waitForCompletion(instanceId, { timeoutMs: 60_000 });
  if (status.runtimeStatus !== 'Completed') throw new Error(`rotation staged-${i} ended ${status.runtimeStatus}`);
}

async function measure(env: LocalEnvironment, into: { ms: number[]; vault: number }, work: () => Promise<void>): Promise<void> {
  const requestsBefore = env.vault.requests.length;
  const started = performance.now();
  await work();
  into.ms.push(performance.now() - started);
  into.vault += env.vault.requests.length - requestsBefore;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
