import { pbkdf2Sync, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { SecretClient } from '@azure/keyvault-secrets';
import type { Credential } from '../../src/config/schema';
import { DurableHost, installFunctionsCore, type DurableState } from '../../src/local/durable-host';
import { LOCAL_DATABASE, liveLoginOf, secretNameFor, type LocalCredentialSpec } from '../../src/local/environment';
import type { Client } from 'pg';
import { loopbackAzureOptions, StaticTokenCredential } from '../../src/local/loopback-clients';
import { generatePassword, scramSha256Verifier } from '../../src/rotation/password';
import { TAG } from '../../src/rotation/state';
import { renderTemplate } from '../../src/rotation/templates';
import type { RotationDeps } from '../../src/rotation/deps';
import type { VaultRequestEvent } from '../../src/local/emulators/key-vault';
import { isSimulatedCrash } from './crash';
import { registerApp } from '../../src/app';
import { startLocalEnvironment, type LocalEnvironment } from '../../src/local/environment';
import { SoakCrash, type AdapterCall } from './soak-crash';
import { PostgresFaultProxy } from './soak-postgres-proxy';
import { SOAK_CREDENTIALS } from './soak-schedule';

const current: { deps?: RotationDeps; registered: boolean } = { registered: false };

/** Where this run's share of every log and request list begins. */
interface Marks {
  vaultRequests: number;
  events: number;
  serverLog: number;
}

/**
 * The system under soak: one real PostgreSQL and one set of emulators for many runs (each
 * run first puts every credential back to the same starting point), the app's real function
 * registrations, adapters that can be killed after any call, and a PostgreSQL front that can
 * refuse or time out sessions. The clock of each run is virtual: the durable host's, plus
 * the jumps the schedule makes.
 */
export class SoakWorld {
  readonly crash: SoakCrash;
  host!: DurableHost;
  /** Every host of the current run (a crash leaves its store behind for the scans). */
  hosts: DurableHost[] = [];
  /** Time the schedule jumped ahead of the host's clock. */
  skewMs = 0;
  /** What triggers and the operator were told: HTTP bodies, trigger errors, outputs. */
  answers: string[] = [];
  /** Broken invariants seen while the run was going (the end state is checked separately). */
  violations: string[] = [];
  marks: Marks = { vaultRequests: 0, events: 0, serverLog: 0 };
  /** What the runs so far exercised, so a soak can show it did more than nothing. */
  readonly stats = { runs: 0, crashes: { replay: 0, fresh: 0 }, outcomes: {} as Record<string, number>, postgresFaults: 0 };
  private readonly registry = installFunctionsCore();
  private readonly admin: SecretClient;
  private catalogQueue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly h: { env: LocalEnvironment },
    readonly proxy: PostgresFaultProxy,
    /** The soak's own superuser session, open for the whole soak: it reads pg_authid for the checks. */
    private readonly catalog: Client,
  ) {
    this.crash = new SoakCrash({ before: (call) => this.beforeCall(call), after: (call) => this.afterCall(call) });
    this.admin = new SecretClient(h.env.vault.url, new StaticTokenCredential(h.env.vault.adminToken), { ...loopbackAzureOptions(h.env.vault.ca), disableChallengeResourceVerification: true });
    const base = h.env.deps;
    const proxied = (c: Credential): Credential => ({ ...c, postgres: { ...c.postgres, port: proxy.port } });
    const deps: RotationDeps = {
      ...base,
      now: () => new Date(this.now()),
      vault: (url) => this.crash.wrap(base.vault(url), 'key-vault'),
      postgres: (c) => this.crash.wrap(base.postgres(proxied(c)), 'postgres'),
      github: () => this.crash.wrap(base.github(), 'github'),
      containerApps: () => this.crash.wrap(base.containerApps(), 'container-apps'),
      events: base.events && this.crash.wrap(base.events, 'event-grid'),
    };
    current.deps = deps;
    h.env.vault.onRequest((event) => this.checkPendingWrite(event));
  }

  /**
   * A rotation is over once the live secret carries its id and the live version is complete:
   * promote deletes the pending secret without marking it, so a copy a later write recovers
   * from soft delete still reads `staged`.
   */
  private promotedAndComplete(liveName: string, rotationId: string | undefined): boolean {
    const versions = this.h.env.vault.versions(liveName);
    return rotationId !== undefined && versions.some((v) => v.tags[TAG.rotationId] === rotationId) && versions.at(-1)?.tags[TAG.stage] === 'complete';
  }

  /**
   * Invariant 4 on the wire: a rotation writes its pending secret only over a pending version
   * of its own, or one whose rotation is over (consumed, aborted, or promoted and complete); never over another
   * rotation's unfinished one.
   */
  private checkPendingWrite(event: VaultRequestEvent): void {
    if (event.operation !== 'setSecret' || event.status !== 200 || !event.secretName?.endsWith('-pending')) return;
    const [previous, written] = this.h.env.vault.versions(event.secretName).slice(-2);
    if (!written || !previous) return;
    const [before, now] = [previous.tags[TAG.rotationId], written.tags[TAG.rotationId]];
    if (before !== now && !['consumed', 'aborted'].includes(previous.tags[TAG.stage] ?? '') && !this.promotedAndComplete(event.secretName.slice(0, -'-pending'.length), before)) this.violations.push(`invariant 4: rotation ${now} wrote ${event.secretName} over rotation ${before}'s unfinished pending secret`);
  }

  /** One per process: the app registers its functions once, against whichever world is current. */
  static async start(specs: LocalCredentialSpec[] = SOAK_CREDENTIALS): Promise<SoakWorld> {
    installFunctionsCore();
    const env = await startLocalEnvironment(specs);
    const proxy = await new PostgresFaultProxy({ host: env.postgres.host, port: env.postgres.port }).start();
    if (!current.registered) {
      registerApp(() => current.deps!);
      current.registered = true;
    }
    const catalog = await env.postgres.connect(LOCAL_DATABASE);
    await catalog.query(`SET log_statement = 'none'`);
    return new SoakWorld({ env }, proxy, catalog);
  }

  get specs(): LocalCredentialSpec[] {
    return SOAK_CREDENTIALS;
  }

  now(): number {
    return (this.host?.now().getTime() ?? Date.now()) + this.skewMs;
  }

  newHost(state?: DurableState): DurableHost {
    const host = new DurableHost({ registry: this.registry, clock: 'virtual', isCrash: isSimulatedCrash, state });
    this.host = host;
    this.hosts.push(host);
    this.h.env.useClock(() => this.now());
    return host;
  }

  /**
   * Every credential back to the starting point of a fresh test bed: one live version with a
   * new password the live login has, no pending or derived leftovers, no faults, healthy apps.
   */
  async reset(): Promise<void> {
    for (const host of this.hosts) await host.close();
    this.hosts = [];
    this.skewMs = 0;
    this.answers = [];
    this.violations = [];
    await this.crash.disarm();
    this.clearFaults();
    this.h.env.github.setRateLimit(this.githubToken(), { remaining: 5000, resetInSeconds: 3600 });
    for (const spec of this.specs) for (const a of spec.containerApps ?? []) this.h.env.containerApps.setRestartOutcome(a.app, `${a.app}--r1`, 'Healthy');
    for (const spec of this.specs) await this.resetCredential(this.catalog, spec);
    this.newHost();
    this.marks = { vaultRequests: this.h.env.vault.requests.length, events: this.h.env.events.deliveries.length, serverLog: this.h.env.postgres.serverLog.length };
  }

  clearFaults(): void {
    const { vault, github, containerApps, events } = this.h.env;
    for (const emulator of [vault, github, containerApps, events]) emulator.clearFaults();
    this.proxy.clearFaults();
  }

  githubToken(): string {
    return this.h.env.vault.currentValue('github-token')!;
  }

  credential(index: number): LocalCredentialSpec {
    return this.specs[index];
  }

  async stop(): Promise<void> {
    for (const host of this.hosts) await host.close();
    await this.catalog.end().catch(() => undefined);
    await this.proxy.stop();
    await this.h.env.stop();
  }

  private async resetCredential(admin: Client, spec: LocalCredentialSpec): Promise<void> {
    const live = secretNameFor(spec.id);
    for (const name of [live, `${live}-pending`, ...(spec.derived ?? []).map((d) => d.secret)]) await this.purge(name);
    const password = generatePassword(32);
    const login = liveLoginOf(spec);
    await admin.query(`ALTER ROLE ${admin.escapeIdentifier(login)} LOGIN PASSWORD ${admin.escapeLiteral(await scramSha256Verifier(password))}`);
    if (spec.strategy === 'alternating-users') await admin.query(`ALTER ROLE ${admin.escapeIdentifier(`${spec.role}_b`)} NOLOGIN PASSWORD NULL`);
    this.h.env.vault.seed(live, password, { tags: { [TAG.credential]: spec.id, [TAG.role]: login }, expiresOn: new Date(Date.now() + 30 * 86_400_000) });
    for (const d of spec.derived ?? []) {
      const { host, port } = this.h.env.postgres;
      this.h.env.vault.seed(d.secret, renderTemplate(d.template, { user: login, password, host, port, database: LOCAL_DATABASE, sslmode: 'verify-full' }), { tags: { [TAG.credential]: spec.id } });
    }
    this.h.env.initialPasswords.set(spec.id, password);
  }

  /** Deletes and purges a secret through the vault's own API, so a run starts without it. */
  private async purge(name: string): Promise<void> {
    const vault = this.h.env.vault;
    if (vault.versions(name).length === 0) return;
    if (!vault.isDeleted(name)) await (await this.admin.beginDeleteSecret(name, { intervalInMs: 10 })).pollUntilDone();
    await this.admin.purgeDeletedSecret(name);
  }

  // ---- checks made while the run goes ----------------------------------------------------

  private specOfRole(role: unknown): LocalCredentialSpec | undefined {
    return this.specs.find((s) => s.role === role || (s.strategy === 'alternating-users' && (role === `${s.role}_a` || role === `${s.role}_b`)));
  }

  /** Invariant 1: a verifier sent to PostgreSQL must be of a password Key Vault already holds. */
  private async beforeCall(call: AdapterCall): Promise<void> {
    this.checkOneInstancePerCredential(`before ${call.adapter}.${call.method}`);
    const verifier = call.args.find((a): a is string => typeof a === 'string' && a.startsWith('SCRAM-SHA-256$'));
    if (!verifier) return;
    // Newest versions first, pending secrets before the rest: the one it should match is usually tried first.
    const names = this.h.env.vault.secretNames().sort((a, b) => Number(b.endsWith('-pending')) - Number(a.endsWith('-pending')));
    const stored = names.flatMap((name) => this.h.env.vault.versions(name).map((v) => v.value).reverse());
    if (!stored.some((value) => verifierMatches(verifier, value))) this.violations.push(`invariant 1: ${call.method} sent a password to PostgreSQL that Key Vault does not hold`);
  }

  /** Invariant 2: right after a password change, some secret in Key Vault still authenticates. */
  private async afterCall(call: AdapterCall): Promise<void> {
    if (call.adapter !== 'postgres') return;
    const spec = call.args.map((a) => this.specOfRole(a)).find(Boolean);
    // Reads (canLogin, probe, isMemberOf, loginRules, passwordSettings) change nothing.
    if (!spec || /^(can|probe|is|login|password)/i.test(call.method)) return;
    const problem = await this.someSecretAuthenticates(spec);
    if (problem) this.violations.push(`invariant 2 after ${call.method}: ${problem}`);
  }

  /** Undefined when the rule of invariant 2 holds for the credential now, else what is wrong. */
  async someSecretAuthenticates(spec: LocalCredentialSpec): Promise<string | undefined> {
    const vault = this.h.env.vault;
    const liveName = secretNameFor(spec.id);
    const live = vault.versions(liveName).at(-1);
    if (!live || vault.isDeleted(liveName)) return `${spec.id} has no live secret`;
    const liveLogin = live.tags[TAG.role] ?? liveLoginOf(spec);
    if (spec.strategy === 'alternating-users') {
      if (await this.accepts(liveLogin, live.value)) return undefined;
      return `${spec.id}: the live secret does not authenticate ${liveLogin} (${await this.h.env.login(liveLogin, live.value)})`;
    }
    if (await this.accepts(spec.role, live.value)) return undefined;
    const pendingName = `${liveName}-pending`;
    const pending = vault.isDeleted(pendingName) ? undefined : vault.versions(pendingName).at(-1);
    if (pending && (await this.accepts(spec.role, pending.value))) return undefined;
    return `${spec.id}: neither the live nor the pending secret authenticates ${spec.role}`;
  }

  /**
   * Whether PostgreSQL would let `login` in with `password`, read from pg_authid instead of
   * a new session (a session costs the server a backend, about 20 ms of CPU here, and the
   * checks ask thousands of times a soak). With `scram-sha-256` for every host in pg_hba, the
   * server admits a role that can log in, whose verifier is of the password, before its
   * VALID UNTIL (https://www.postgresql.org/docs/current/auth-password.html,
   * https://www.postgresql.org/docs/current/sql-createrole.html). A "no" is exact; a "yes"
   * is confirmed with a real login wherever the check depends on it.
   */
  async accepts(login: string, password: string): Promise<boolean> {
    // Checks run from concurrent activities; one session answers one query at a time.
    const asked = this.catalogQueue.then(() =>
      this.catalog.query<{ rolcanlogin: boolean; rolpassword: string | null; expired: boolean }>(`SELECT rolcanlogin, rolpassword, coalesce(rolvaliduntil <= now(), false) AS expired FROM pg_authid WHERE rolname = $1`, [login]),
    );
    this.catalogQueue = asked.then(
      () => undefined,
      () => undefined,
    );
    const { rows } = await asked;
    const role = rows[0];
    return role !== undefined && role.rolcanlogin && !role.expired && role.rolpassword !== null && verifierMatches(role.rolpassword, password);
  }

  /** At most one non-terminal rotation per credential in the task hub. */
  checkOneInstancePerCredential(where: string): void {
    if (!this.host || this.host.isCrashed) return;
    const running = this.host.listInstances().filter((i) => !['Completed', 'Failed', 'Terminated'].includes(i.runtimeStatus));
    const perCredential = new Map<string, number>();
    for (const i of running) {
      const id = (i.input as { credentialId?: string } | null)?.credentialId ?? i.instanceId;
      perCredential.set(id, (perCredential.get(id) ?? 0) + 1);
    }
    for (const [id, count] of perCredential) if (count > 1) this.violations.push(`${count} rotations of ${id} ran at once (${where})`);
  }
}

/** Whether a SCRAM-SHA-256 verifier (RFC 5803 form, as PostgreSQL stores it) is of `password`. */
export function verifierMatches(verifier: string, password: string): boolean {
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!match) return false;
  const salted = pbkdf2Sync(password.normalize('NFKC'), Buffer.from(match[2], 'base64'), Number(match[1]), 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const expected = Buffer.from(match[3], 'base64');
  return expected.length === storedKey.length && timingSafeEqual(expected, storedKey);
}
