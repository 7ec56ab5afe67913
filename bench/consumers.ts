import { setTimeout as sleep } from 'node:timers/promises';
import { Client, DatabaseError } from 'pg';
import type { ContainerAppsEmulator, RestartRecord } from '../src/local/emulators/container-apps';
import type { KeyVaultEmulator } from '../src/local/emulators/key-vault';
import { TAG } from '../src/rotation/state';

/**
 * Simulated application clients: the load proof's instrument. Each client loops "open a new
 * connection with the credential it holds, run a query, close" and counts what PostgreSQL
 * answers. Like a real app, a client holds the secret it was started with and takes the live
 * one only when the Container Apps emulator restarts its app.
 */

export interface ConsumerCredential {
  user: string;
  password: string;
}

export interface ConsumerOptions {
  postgres: { host: string; port: number; database: string };
  vault: KeyVaultEmulator;
  /** The live secret the app reads at start-up; for alternating users its `role` tag names the user. */
  secretName: string;
  containerApps: ContainerAppsEmulator;
  app: { subscription: string; resourceGroup: string; name: string };
  clients: number;
  initial: ConsumerCredential;
  /** Each client stops after this many attempts; default 100 000. */
  maxAttemptsPerClient?: number;
  /** Every client stops this long after the start; default 60 000 ms. */
  durationMs?: number;
  /** Width of the per-interval counts; default 1000 ms. */
  intervalMs?: number;
  /** Pause between one client's attempts; default 0. */
  pauseMs?: number;
  /** Default `SELECT 1`. */
  query?: string;
  /** Default 5000 ms. */
  connectTimeoutMs?: number;
}

export interface Counts {
  attempts: number;
  ok: number;
  /** Logins PostgreSQL refused: SQLSTATE 28P01 (wrong password) or 28000 (NOLOGIN, no such role). */
  refused: number;
  /** Anything else: the server gone, a timeout, a failing query. */
  failed: number;
}

export interface IntervalCounts extends Counts {
  /** Milliseconds from the start to the beginning of the interval. */
  startMs: number;
}

export interface ConsumerStats extends Counts {
  /** The longest a client went from a refused login to its next accepted one (or to now). */
  refusedWindowMs: number;
  byUser: Record<string, Counts>;
  intervals: IntervalCounts[];
  /** Restarts of the app that handed the clients the live secret. */
  handovers: number;
  /** Failures by SQLSTATE or Node error code. */
  failures: Record<string, number>;
  /** Each client: the user it holds now and the attempts it made. */
  clients: Array<{ user: string; attempts: number }>;
}

export interface Consumers {
  stats(): ConsumerStats;
  /** Ends every loop after its attempt in flight, whose connection closes; resolves with the final counts. */
  stop(): Promise<ConsumerStats>;
  /** Resolves when every loop has ended, by itself (count or time) or through stop(). */
  done: Promise<ConsumerStats>;
}

const APPLICATION_NAME = 'consumer-simulator';
const REFUSED = new Set(['28P01', '28000']);

interface ClientState {
  credential: ConsumerCredential;
  attempts: number;
  refusedSince?: number;
  longestRefusedMs: number;
}

type Outcome = 'ok' | 'refused' | 'failed';

export function startConsumers(options: ConsumerOptions): Consumers {
  const recorder = new Recorder(options.intervalMs ?? 1000);
  const clients: ClientState[] = Array.from({ length: options.clients }, () => ({ credential: { ...options.initial }, attempts: 0, longestRefusedMs: 0 }));
  const stopping = new AbortController();
  const deadline = recorder.startedAt + (options.durationMs ?? 60_000);
  const unsubscribe = options.containerApps.onRestart((restart) => {
    if (!isApp(restart, options.app)) return;
    const live = liveSecret(options.vault, options.secretName);
    if (!live) return;
    for (const client of clients) client.credential = { user: live.role ?? client.credential.user, password: live.password };
    recorder.handovers += 1;
  });
  const loops = clients.map((client) => runClient(client, options, recorder, () => stopping.signal.aborted || Date.now() >= deadline, stopping.signal));
  const done = Promise.all(loops).then(() => {
    unsubscribe();
    return recorder.snapshot(clients);
  });
  return {
    stats: () => recorder.snapshot(clients),
    stop: () => {
      stopping.abort();
      return done;
    },
    done,
  };
}

/** What the app reads when it starts: the latest version, and (alternating users) the role it belongs to. */
function liveSecret(vault: KeyVaultEmulator, secretName: string): { password: string; role?: string } | undefined {
  const password = vault.currentValue(secretName);
  const latest = vault.versions(secretName).at(-1);
  return password === undefined || !latest ? undefined : { password, role: latest.tags[TAG.role] };
}

function isApp(restart: RestartRecord, app: ConsumerOptions['app']): boolean {
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  return same(restart.subscriptionId, app.subscription) && same(restart.resourceGroup, app.resourceGroup) && same(restart.app, app.name);
}

async function runClient(state: ClientState, options: ConsumerOptions, recorder: Recorder, finished: () => boolean, signal: AbortSignal): Promise<void> {
  const maxAttempts = options.maxAttemptsPerClient ?? 100_000;
  while (!finished() && state.attempts < maxAttempts) {
    const { user, password } = state.credential;
    state.attempts += 1;
    const { outcome, code } = await attempt(options, user, password);
    recorder.record(state, user, outcome, code);
    if (options.pauseMs) await sleep(options.pauseMs, undefined, { signal }).catch(() => undefined);
  }
}

async function attempt(options: ConsumerOptions, user: string, password: string): Promise<{ outcome: Outcome; code?: string }> {
  const client = new Client({ ...options.postgres, user, password, application_name: APPLICATION_NAME, connectionTimeoutMillis: options.connectTimeoutMs ?? 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(options.query ?? 'SELECT 1');
    return { outcome: 'ok' };
  } catch (error) {
    const code = error instanceof DatabaseError ? error.code : (error as NodeJS.ErrnoException).code;
    return { outcome: code && REFUSED.has(code) ? 'refused' : 'failed', code: code ?? 'unknown' };
  } finally {
    await client.end().catch(() => undefined);
  }
}

class Recorder {
  readonly startedAt = Date.now();
  handovers = 0;
  private readonly totals = emptyCounts();
  private readonly byUser = new Map<string, Counts>();
  private readonly intervals: IntervalCounts[] = [];
  private readonly failures = new Map<string, number>();

  constructor(private readonly intervalMs: number) {}

  record(state: ClientState, user: string, outcome: Outcome, code?: string): void {
    const now = Date.now();
    for (const counts of [this.totals, this.userCounts(user), this.interval(now)]) {
      counts.attempts += 1;
      counts[outcome] += 1;
    }
    if (outcome === 'failed') this.failures.set(code ?? 'unknown', (this.failures.get(code ?? 'unknown') ?? 0) + 1);
    trackRefusedWindow(state, outcome, now);
  }

  snapshot(clients: ClientState[]): ConsumerStats {
    const now = Date.now();
    const open = clients.map((c) => (c.refusedSince === undefined ? 0 : now - c.refusedSince));
    return {
      ...this.totals,
      refusedWindowMs: Math.max(0, ...clients.map((c) => c.longestRefusedMs), ...open),
      byUser: Object.fromEntries([...this.byUser].map(([user, counts]) => [user, { ...counts }])),
      intervals: this.intervals.map((i) => ({ ...i })),
      handovers: this.handovers,
      failures: Object.fromEntries(this.failures),
      clients: clients.map((c) => ({ user: c.credential.user, attempts: c.attempts })),
    };
  }

  private userCounts(user: string): Counts {
    let counts = this.byUser.get(user);
    if (!counts) this.byUser.set(user, (counts = emptyCounts()));
    return counts;
  }

  private interval(now: number): IntervalCounts {
    const index = Math.floor((now - this.startedAt) / this.intervalMs);
    for (let i = this.intervals.length; i <= index; i += 1) this.intervals.push({ startMs: i * this.intervalMs, ...emptyCounts() });
    return this.intervals[index];
  }
}

/** A window opens at a client's first refused login and closes at its next accepted one. */
function trackRefusedWindow(state: ClientState, outcome: Outcome, now: number): void {
  if (outcome === 'refused') state.refusedSince ??= now;
  if (outcome === 'ok' && state.refusedSince !== undefined) {
    state.longestRefusedMs = Math.max(state.longestRefusedMs, now - state.refusedSince);
    state.refusedSince = undefined;
  }
}

function emptyCounts(): Counts {
  return { attempts: 0, ok: 0, refused: 0, failed: 0 };
}
