import { availableParallelism } from 'node:os';
import type { Client } from 'pg';
import { registerApp } from '../src/app';
import { SCHEDULED_ROTATION } from '../src/functions/scheduled-rotation';
import { DurableHost, installFunctionsCore } from '../src/local/durable-host';
import type { VaultRequestEvent } from '../src/local/emulators/key-vault';
import { startLocalEnvironment, type LocalCredentialSpec } from '../src/local/environment';
import type { RotationStatus } from '../src/rotation/status';
import { KEY_VAULT_SECRET_LIMITS, KeyVaultPacer } from '../src/targets/key-vault-pacing';

/**
 * A fleet rotation: N credentials (default 1,000) in one Key Vault emulator, all roles on one
 * embedded PostgreSQL server, half of them with a GitHub Actions secret and a Container App
 * as consumers, every live secret expiring within the margin so all are due. The daily timer
 * function runs once through the app's real registrations on the in-process durable host and
 * starts them all; the host runs orchestrations and activities with the Durable extension's
 * default concurrency (10 × the processor count each). The vault enforces the service's
 * throttling limits; the rotator paces itself to its default share of them.
 *
 * Grace is 0 minutes and the Container Apps' revisions are healthy at once: the host's virtual
 * clock skips a timer's wait only when nothing else runs, which never happens while a paced
 * fleet is in flight, so a 15-minute grace would be waited in real time. With both at zero no
 * timer waits and the wall time is the pacing. Reports the wall time, throttled answers, the
 * busiest 10 s of the vault against its limit, the most rotator sessions PostgreSQL held at
 * once, the peak RSS of this process (host, app and emulators; PostgreSQL runs apart) and the
 * history bytes per rotation. The bound is the Key Vault transactions spent (a secret creation
 * weighs 4,000 / 300) divided by the rate the share allows.
 */
export async function fleetBench(args: string[]): Promise<void> {
  const count = Number(args[0] ?? 1000);
  if (!Number.isInteger(count) || count < 2) throw new Error(`the fleet size must be an integer of at least 2, got ${args[0]}`);
  const registry = installFunctionsCore();
  const env = await startLocalEnvironment(fleetSpecs(count));
  registerApp(() => env.deps);
  const concurrency = 10 * availableParallelism();
  const host = new DurableHost({ registry, clock: 'virtual', maxConcurrentActivities: concurrency, maxConcurrentOrchestrations: concurrency });
  env.useClock(() => host.now().getTime());
  const vaultEvents: VaultRequestEvent[] = [];
  env.vault.onRequest((event) => vaultEvents.push(event));
  const observer = await env.postgres.connect();
  const peaks = { rss: 0, sessions: 0 };
  const sampling = sample(observer, peaks);
  try {
    const started = performance.now();
    await host.invokeTimer(SCHEDULED_ROTATION);
    const finished = await Promise.all(env.config.credentials.map((c) => host.waitForCompletion(`rotate-${c.id}`, { timeoutMs: 3_600_000 })));
    const wallSeconds = (performance.now() - started) / 1000;
    sampling.stop();
    await sampling.done;
    report({ count, finished: finished.map((s) => s.customStatus as RotationStatus), vaultEvents, wallSeconds, peaks, historyBytes: historyBytes(host), concurrency, share: env.config.limits.keyVaultShare });
  } finally {
    sampling.stop();
    await observer.end();
    await host.close();
    await env.stop();
  }
}

function fleetSpecs(count: number): LocalCredentialSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const consumers: Partial<LocalCredentialSpec> =
      i % 2 === 0 ? { github: [{ repo: `fleet/app-${i}`, secret: 'DB_PASSWORD' }], containerApps: [{ app: `app-${i}`, revisions: [{ name: `app-${i}--r1`, activationMs: 0 }] }] } : {};
    return { id: `fleet-${i}`, role: `fleet_${i}`, liveExpiresInDays: 3, overrides: { graceMinutes: 0 }, ...consumers };
  });
}

/** Polls the server's sessions of the rotator and this process's RSS until stopped. */
function sample(observer: Client, peaks: { rss: number; sessions: number }): { stop(): void; done: Promise<void> } {
  let running = true;
  const done = (async () => {
    while (running) {
      peaks.rss = Math.max(peaks.rss, process.memoryUsage().rss);
      const { rows } = await observer.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'credential-rotator'`);
      peaks.sessions = Math.max(peaks.sessions, rows[0].n);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { stop: () => (running = false), done };
}

function historyBytes(host: DurableHost): number {
  const instances = Object.values(host.exportState().instances);
  return instances.reduce((sum, i) => sum + Buffer.byteLength(JSON.stringify(i.history)), 0) / instances.length;
}

/** The most transactions (creations weighted) the vault answered in any 10 s, and their total. */
function vaultLoad(events: VaultRequestEvent[]): { peak: number; total: number } {
  const { windowMs, transactions, creations } = KEY_VAULT_SECRET_LIMITS;
  const answered = events.filter((e) => e.status !== 429);
  const cost = (e: VaultRequestEvent) => (e.operation === 'setSecret' && e.status !== 401 ? transactions / creations : 1);
  let peak = 0;
  let inWindow = 0;
  let head = 0;
  for (const e of answered) {
    inWindow += cost(e);
    while (answered[head].at.getTime() <= e.at.getTime() - windowMs) inWindow -= cost(answered[head++]);
    peak = Math.max(peak, inWindow);
  }
  return { peak, total: answered.reduce((sum, e) => sum + cost(e), 0) };
}

interface FleetResult {
  count: number;
  finished: RotationStatus[];
  vaultEvents: VaultRequestEvent[];
  wallSeconds: number;
  peaks: { rss: number; sessions: number };
  historyBytes: number;
  concurrency: number;
  share: number;
}

function report(r: FleetResult): void {
  const succeeded = r.finished.filter((s) => s?.outcome === 'succeeded').length;
  const throttled = r.vaultEvents.filter((e) => e.status === 429).length;
  const load = vaultLoad(r.vaultEvents);
  const allowed = new KeyVaultPacer(r.share).allowedPerSecond;
  const bound = load.total / allowed;
  const outcomes = r.finished.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s?.outcome ?? 'none']: (acc[s?.outcome ?? 'none'] ?? 0) + 1 }), {});
  console.log(`credentials=${r.count} (half with a GitHub and a Container App consumer), orchestrator and activity concurrency ${r.concurrency}`);
  console.log(`outcomes ${JSON.stringify(outcomes)}`);
  console.log(`key vault: ${r.vaultEvents.length} requests (${(r.vaultEvents.length / r.count).toFixed(1)} a rotation), ${load.total.toFixed(0)} transactions with creations weighted, ${throttled} throttled`);
  console.log(`key vault busiest 10 s: ${load.peak.toFixed(0)} transactions; limit ${KEY_VAULT_SECRET_LIMITS.transactions}, the rotator's share ${(r.share * KEY_VAULT_SECRET_LIMITS.transactions).toFixed(0)}`);
  console.log(`postgresql: at most ${r.peaks.sessions} rotator sessions at once`);
  console.log(`history: ${(r.historyBytes / 1024).toFixed(1)} KiB a rotation`);
  console.log(`fleet credentials=${r.count} succeeded=${succeeded} throttled=${throttled} wall-s=${r.wallSeconds.toFixed(1)} bound-s=${bound.toFixed(1)} peak-rss-mb=${(r.peaks.rss / 1048576).toFixed(0)}`);
}
