import { randomBytes } from 'node:crypto';
import type { ContainerAppsAPIClient } from '@azure/arm-appcontainers';
import type { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsumers, type ConsumerOptions, type ConsumerStats, type Consumers } from '../bench/consumers';
import { startEmbeddedPostgres, type LocalPostgres } from '../src/local/embedded-postgres';
import { loopbackContainerAppsClient } from '../src/local/emulators/container-apps-client';
import { ContainerAppsEmulator } from '../src/local/emulators/container-apps';
import { KeyVaultEmulator } from '../src/local/emulators/key-vault';
import { StaticTokenCredential } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';
import { TAG } from '../src/rotation/state';

const SUB = '00000000-1111-2222-3333-444444444444';
const RG = 'rg-apps';
const ARM_TOKEN = `arm-${randomBytes(16).toString('hex')}`;
const CLIENTS = 8;

let pg: LocalPostgres;
let superuser: Client;
let vault: KeyVaultEmulator;
let arm: ContainerAppsEmulator;
let armClient: ContainerAppsAPIClient;
const running: Consumers[] = [];

beforeAll(async () => {
  pg = await startEmbeddedPostgres();
  superuser = await pg.connect();
  vault = await new KeyVaultEmulator().start();
  arm = await new ContainerAppsEmulator({
    tokens: [ARM_TOKEN],
    activationMs: 50,
    apps: ['single-api', 'alternating-api', 'idle-api'].map((name) => ({ subscriptionId: SUB, resourceGroup: RG, name, revisions: [{ name: `${name}--r1` }] })),
  }).start();
  armClient = loopbackContainerAppsClient(arm.url, (await loopbackCertificate()).ca, new StaticTokenCredential(ARM_TOKEN), SUB);
});

afterAll(async () => {
  await Promise.allSettled(running.map((c) => c.stop()));
  await superuser?.end();
  await arm?.stop();
  await vault?.stop();
  await pg?.stop();
});

function password(): string {
  return randomBytes(24).toString('base64url');
}

async function createLogin(role: string, secret: string): Promise<void> {
  await superuser.query(`CREATE ROLE ${role} LOGIN PASSWORD ${superuser.escapeLiteral(secret)}`);
}

function start(app: string, secretName: string, initial: { user: string; password: string }, overrides: Partial<ConsumerOptions> = {}): Consumers {
  const consumers = startConsumers({
    postgres: { host: pg.host, port: pg.port, database: 'postgres' },
    vault,
    secretName,
    containerApps: arm,
    app: { subscription: SUB, resourceGroup: RG, name: app },
    clients: CLIENTS,
    initial,
    durationMs: 30_000,
    intervalMs: 100,
    ...overrides,
  });
  running.push(consumers);
  return consumers;
}

/** Restarts the app's revision through the real ARM client, as the propagate stage does. */
async function restart(app: string): Promise<void> {
  await armClient.containerAppsRevisions.restartRevision(RG, app, `${app}--r1`);
}

async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits until every client has made a few more attempts than it had by now. */
async function moreAttempts(consumers: Consumers, perClient: number): Promise<ConsumerStats> {
  const targets = consumers.stats().clients.map((c) => c.attempts + perClient);
  await until(`each client made ${perClient} more attempts`, () => consumers.stats().clients.every((c, i) => c.attempts >= targets[i]));
  return consumers.stats();
}

describe('the consumer simulator: application clients that log in again and again with the secret they hold', () => {
  it('when the password changes under the clients, then they count refused logins until a restart hands them the live secret', async () => {
    const first = password();
    await createLogin('single_app', first);
    vault.seed('single-password', first, { tags: { [TAG.role]: 'single_app' } });
    const consumers = start('single-api', 'single-password', { user: 'single_app', password: first });
    await moreAttempts(consumers, 3);
    expect(consumers.stats().refused).toBe(0);

    const second = password();
    const changedAt = Date.now();
    await superuser.query(`ALTER ROLE single_app PASSWORD ${superuser.escapeLiteral(second)}`);
    await until('logins are refused', () => consumers.stats().refused >= CLIENTS);
    const refusedSeenAt = Date.now();
    // The rotation takes a while to promote and restart: the refusals go on meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 150));
    vault.seed('single-password', second, { tags: { [TAG.role]: 'single_app' } });
    const restartAt = Date.now();
    await restart('single-api');

    // An attempt already in flight at the restart may still carry the old password.
    const settled = await moreAttempts(consumers, 2);
    const after = await moreAttempts(consumers, 5);
    expect(after.refused).toBe(settled.refused);
    expect(after.ok).toBeGreaterThan(settled.ok);
    expect(after.handovers).toBe(1);
    expect(after.refusedWindowMs).toBeGreaterThanOrEqual(restartAt - refusedSeenAt);
    expect(after.refusedWindowMs).toBeLessThanOrEqual(Date.now() - changedAt);
    expect(after.intervals.some((i) => i.refused > 0)).toBe(true);
    expect(after.intervals.at(-1)).toMatchObject({ refused: 0 });
    expect(after.intervals.reduce((sum, i) => sum + i.attempts, 0)).toBe(after.attempts);

    const final = await consumers.stop();
    expect(final).toMatchObject({ failed: 0, failures: {} });
    expect(final.attempts).toBe(final.ok + final.refused);
    expect(final.byUser.single_app.refused).toBe(final.refused);
  });

  it('when an alternating-users rotation promotes the other login, then a restart hands the clients that user from the role tag, and retiring the old one refuses nobody', async () => {
    const a = password();
    const b = password();
    await createLogin('alt_a', a);
    await createLogin('alt_b', b);
    vault.seed('alt-password', a, { tags: { [TAG.role]: 'alt_a' } });
    const consumers = start('alternating-api', 'alt-password', { user: 'alt_a', password: a });
    await moreAttempts(consumers, 3);

    vault.seed('alt-password', b, { tags: { [TAG.role]: 'alt_b' } });
    await moreAttempts(consumers, 2);
    expect(consumers.stats().byUser.alt_b).toBeUndefined();
    await restart('alternating-api');
    await moreAttempts(consumers, 3);
    const switched = consumers.stats();
    expect(switched.byUser.alt_b.ok).toBeGreaterThan(0);
    expect(switched.clients.map((c) => c.user)).toEqual(Array(CLIENTS).fill('alt_b'));

    await superuser.query('ALTER ROLE alt_a NOLOGIN PASSWORD NULL');
    const retired = await moreAttempts(consumers, 5);
    expect(retired.refused).toBe(0);
    expect(retired.byUser.alt_a.attempts).toBe(switched.byUser.alt_a.attempts);

    // A login switched off is refused with 28000, and that counts as refused too.
    await superuser.query('ALTER ROLE alt_b NOLOGIN');
    await until('NOLOGIN is refused', () => consumers.stats().refused >= CLIENTS);
    const final = await consumers.stop();
    expect(final.failed).toBe(0);
    expect(final.byUser.alt_b.refused).toBe(final.refused);
    expect(final.refusedWindowMs).toBeGreaterThan(0);
  });

  it('when stopped, then every loop ends and every connection closes; when bounded, it stops by itself', async () => {
    const secret = password();
    await createLogin('idle_app', secret);
    vault.seed('idle-password', secret, { tags: { [TAG.role]: 'idle_app' } });
    const consumers = start('idle-api', 'idle-password', { user: 'idle_app', password: secret });
    await moreAttempts(consumers, 2);
    const stopped = await consumers.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(consumers.stats().attempts).toBe(stopped.attempts);
    await expectNoSimulatorSessions();
    await restart('idle-api');
    expect(consumers.stats().handovers).toBe(0);

    const counted = start('idle-api', 'idle-password', { user: 'idle_app', password: secret }, { clients: 3, maxAttemptsPerClient: 4 });
    expect(await counted.done).toMatchObject({ attempts: 12, ok: 12 });
    const timed = start('idle-api', 'idle-password', { user: 'idle_app', password: secret }, { durationMs: 200, pauseMs: 20 });
    const began = Date.now();
    const timedStats = await timed.done;
    expect(Date.now() - began).toBeLessThan(2000);
    expect(timedStats.ok).toBeGreaterThan(0);
    await expectNoSimulatorSessions();
  });
});

async function expectNoSimulatorSessions(): Promise<void> {
  const count = async () => (await superuser.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'consumer-simulator'`)).rows[0].n;
  // A backend leaves pg_stat_activity a moment after its client has gone.
  let sessions = await count();
  for (const deadline = Date.now() + 5000; sessions > 0 && Date.now() < deadline; sessions = await count()) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(sessions).toBe(0);
}
