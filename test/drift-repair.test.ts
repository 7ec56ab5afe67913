import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DurableHost } from '../src/local/durable-host';
import { secretNameFor } from '../src/local/environment';
import type { DriftOutcome } from '../src/rotation/drift-run';
import { TAG } from '../src/rotation/state';
import { startHarness, type Harness } from './support/harness';

/**
 * The two repair paths, through the real driftCheck timer and the durable host: a password
 * changed behind Key Vault's back is repaired by a rotation (Key Vault holds the new
 * password first), stale consumers by a propagation of the live version; with the default
 * `repair: none` nothing changes.
 */

const URL_TEMPLATE = 'postgresql://{user}:{password}@{host}:{port}/{database}';
let h: Harness;
let host: DurableHost;
/** The first timer run, after every credential was broken in its own way. */
let first: Record<string, DriftOutcome>;
const byHand: Record<string, string> = {};
let rotateBefore: string;
let handsOffVersions: number;

async function driftCheck(): Promise<Record<string, DriftOutcome>> {
  const outcomes = (await host.invokeTimer('driftCheck')) as DriftOutcome[];
  return Object.fromEntries(outcomes.map((o) => [o.credentialId, o]));
}

async function changeBehindKeyVault(role: string): Promise<string> {
  const password = `by-hand-${role}-000000000000000000000000`;
  const client = await h.env.postgres.connect();
  try {
    await client.query(`ALTER ROLE ${client.escapeIdentifier(role)} PASSWORD ${client.escapeLiteral(password)}`);
  } finally {
    await client.end();
  }
  return password;
}

beforeAll(async () => {
  h = await startHarness([
    { id: 'heal-rotate', role: 'heal_rotate_app', overrides: { repair: 'rotate' } },
    { id: 'heal-propagate', role: 'heal_propagate_app', derived: [{ secret: 'heal-url', template: URL_TEMPLATE }], github: [{ repo: 'acme/heal', secret: 'DATABASE_URL', format: 'heal-url' }], overrides: { repair: 'propagate' } },
    { id: 'hands-off', role: 'hands_off_app' },
    { id: 'propagate-only', role: 'propagate_only_app', overrides: { repair: 'propagate' } },
    // As users set an app up: a versionless reference, replicas older than the live version.
    { id: 'heal-app', role: 'heal_app_app', containerApps: [{ app: 'heal-api' }], overrides: { repair: 'propagate' } },
  ]);
  host = h.newHost();
  // The propagate credential's GitHub secret predates its live version by more than GitHub's one-second precision.
  await h.env.deps.github().putSecret('test', { repo: 'acme/heal', name: 'DATABASE_URL' }, 'postgresql://old');
  await new Promise((resolve) => setTimeout(resolve, 1100));
  h.env.vault.seed(secretNameFor('heal-propagate'), h.env.initialPasswords.get('heal-propagate')!, { tags: { [TAG.role]: 'heal_propagate_app', [TAG.rotatedAt]: new Date().toISOString() }, expiresOn: new Date(Date.now() + 30 * 86_400_000) });
  for (const role of ['heal_rotate_app', 'propagate_only_app', 'hands_off_app']) byHand[role] = await changeBehindKeyVault(role);
  rotateBefore = h.liveValue('heal-rotate');
  handsOffVersions = h.env.vault.versions(secretNameFor('hands-off')).length;
  first = await driftCheck();
}, 120_000);

afterAll(async () => h?.stop());

describe('the drift check repairs only what the credential allows', () => {
  it('when the live secret no longer logs in and repair is rotate, then a rotation gives the role a password Key Vault holds, and the next check is healthy', async () => {
    const outcome = first['heal-rotate'];
    expect(outcome.report?.findings.map((f) => f.code)).toEqual(['live-login-refused']);
    expect(outcome.plan?.kind).toBe('rotate');
    expect(outcome.repaired).toEqual(['rotation started']);
    const done = await host.waitForCompletion('rotate-heal-rotate', { timeoutMs: 60_000 });
    expect((done.customStatus as { outcome: string; reason: string }).outcome).toBe('succeeded');
    const live = h.liveValue('heal-rotate');
    expect(live).not.toBe(rotateBefore);
    expect(await h.login('heal_rotate_app', live)).toBe('accepted');
    expect(await h.login('heal_rotate_app', byHand.heal_rotate_app)).toMatch(/^refused 28P01/);
    const second = (await driftCheck())['heal-rotate'];
    expect(second.report?.health).toBe('healthy');
    expect(second.repaired).toEqual([]);
  });

  it('when a derived secret and a GitHub secret are stale and repair is propagate, then the derived secret is rewritten and the live version propagated, with no new password', async () => {
    const password = h.liveValue('heal-propagate');
    const outcome = first['heal-propagate'];
    expect(outcome.report?.findings.map((f) => f.code).sort()).toEqual(['derived-stale', 'github-stale']);
    expect(outcome.plan).toMatchObject({ kind: 'propagate', targets: ['github:0'], derived: ['heal-url'] });
    expect(outcome.repaired).toEqual(['rewrote heal-url', 'propagation to github:0 started']);
    await host.waitForCompletion('rotate-heal-propagate', { timeoutMs: 60_000 });
    expect(h.liveValue('heal-propagate')).toBe(password);
    const derived = h.env.vault.currentValue('heal-url');
    expect(derived).toContain(encodeURIComponent(password));
    expect(h.env.github.secretValue({ repo: 'acme/heal', name: 'DATABASE_URL' })).toBe(derived);
    expect((await driftCheck())['heal-propagate'].report?.health).toBe('healthy');
  });

  it('when a Container App references no version and runs old replicas and repair is propagate, then the propagation points it at the live version and restarts it, with no new password', async () => {
    const password = h.liveValue('heal-app');
    const live = h.env.vault.versions(secretNameFor('heal-app')).at(-1)!.version;
    const outcome = first['heal-app'];
    expect(outcome.report?.findings.map((f) => f.code).sort()).toEqual(['container-app-reference-stale', 'container-app-replicas-stale']);
    expect(outcome.plan).toMatchObject({ kind: 'propagate', targets: ['container-app:0'], derived: [] });
    expect(outcome.repaired).toEqual(['propagation to container-app:0 started']);
    const done = await host.waitForCompletion('rotate-heal-app', { timeoutMs: 60_000 });
    expect((done.customStatus as { outcome: string }).outcome).toBe('succeeded');
    expect(h.liveValue('heal-app')).toBe(password);
    expect(h.env.containerApps.appSecrets('heal-api')).toEqual([expect.objectContaining({ name: 'db-password', keyVaultUrl: `${h.env.vault.url}/secrets/${secretNameFor('heal-app')}/${live}` })]);
    expect(h.env.containerApps.replicas('heal-api').map((r) => r.secrets['db-password'].version)).toEqual([live]);
    expect((await driftCheck())['heal-app'].report?.health).toBe('healthy');
  });

  it('when repair is propagate and the login is broken, then nothing is started: a rotation is not allowed', async () => {
    const outcome = first['propagate-only'];
    expect(outcome.plan).toMatchObject({ kind: 'none', reason: expect.stringContaining('needs a rotation, and repair is propagate') });
    expect(host.listInstances().map((i) => i.instanceId)).not.toContain('rotate-propagate-only');
  });

  it('when repair is left at none, then a drift is reported and nothing changes', async () => {
    const outcome = first['hands-off'];
    expect(outcome.report?.health).toBe('drifted');
    expect(outcome.plan).toMatchObject({ kind: 'none', reason: expect.stringContaining('repair is off') });
    expect(outcome.repaired).toEqual([]);
    expect(host.listInstances().map((i) => i.instanceId)).not.toContain('rotate-hands-off');
    // The only write is the health tag on the live version; no new version, no password change.
    expect(h.env.vault.versions(secretNameFor('hands-off')).length).toBe(handsOffVersions);
    expect(await h.login('hands_off_app', byHand.hands_off_app)).toBe('accepted');
  });
});
