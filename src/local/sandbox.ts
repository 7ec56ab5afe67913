import { Client } from 'pg';
import { registerApp } from '../app';
import { instanceIdFor, ORCHESTRATOR } from '../orchestrations/contract';
import { type RotationStatus } from '../rotation/status';
import { DurableHost, installFunctionsCore } from './durable-host';
import { secretNameFor, startLocalEnvironment, LOCAL_DATABASE, type LocalEnvironment } from './environment';

const CREDENTIAL = { id: 'demo-db', role: 'demo_app' };

/**
 * `npm start`: a real rotation on this machine. Embedded PostgreSQL, the Key Vault
 * emulator over HTTPS, the real durable-functions library driven by the in-process host.
 */
async function main(): Promise<number> {
  // Before the first registration: @azure/functions looks the core module up once, lazily.
  const registry = installFunctionsCore();
  let env: LocalEnvironment | undefined;
  let host: DurableHost | undefined;
  try {
    const started = performance.now();
    env = await startLocalEnvironment([CREDENTIAL]);
    const ready = env;
    console.log(`sandbox: PostgreSQL on 127.0.0.1:${env.postgres.port}, Key Vault emulator at ${env.vault.url} (${ms(started)})`);
    registerApp(() => ready.deps);
    host = new DurableHost({ clock: 'virtual', registry });
    const instanceId = instanceIdFor(CREDENTIAL.id);
    await host.startNew(ORCHESTRATOR, { instanceId, input: { credentialId: CREDENTIAL.id, reason: 'sandbox' } });
    const result = await host.waitForCompletion(instanceId, { timeoutMs: 120_000 });
    const status = result.customStatus as RotationStatus | undefined;
    for (const s of status?.stages ?? []) console.log(`  ${s.stage.padEnd(10)} ${s.outcome.padEnd(9)} ${s.stage === 'grace' ? `${s.durationMs / 60_000} min (durable timer, virtual clock)` : `${s.durationMs} ms`}`);
    if (result.runtimeStatus !== 'Completed' || status?.outcome !== 'succeeded') {
      console.error(`rotation ${status?.rotationId ?? instanceId}: ${result.runtimeStatus.toLowerCase()}: ${status?.error?.message ?? String(result.output)}`);
      return 1;
    }
    await showLogins(env);
    console.log(`rotation ${status.rotationId}: succeeded`);
    return 0;
  } finally {
    await host?.close();
    await env?.stop();
  }
}

async function showLogins(env: LocalEnvironment): Promise<void> {
  const live = env.vault.currentValue(secretNameFor(CREDENTIAL.id));
  const old = env.initialPasswords.get(CREDENTIAL.id);
  if (!live || !old) throw new Error('the sandbox lost track of its passwords');
  const newLogin = await tryLogin(env, live);
  const oldLogin = await tryLogin(env, old);
  console.log(`  new password (Key Vault live version) logs in as ${CREDENTIAL.role}: ${newLogin}`);
  console.log(`  old password: ${oldLogin}`);
  if (newLogin !== 'accepted' || oldLogin === 'accepted') throw new Error(`login check failed: new ${newLogin}, old ${oldLogin}`);
}

async function tryLogin(env: LocalEnvironment, password: string): Promise<string> {
  const client = new Client({ host: env.postgres.host, port: env.postgres.port, database: LOCAL_DATABASE, user: CREDENTIAL.role, password });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'accepted';
  } catch (error) {
    return `refused (${(error as { code?: string }).code ?? 'error'})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function ms(since: number): string {
  return `${Math.round(performance.now() - since)} ms`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`sandbox failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
