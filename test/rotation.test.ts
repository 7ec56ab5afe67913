import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretNameFor } from '../src/local/environment';
import { TAG } from '../src/rotation/state';
import { startHarness, storedVerifier, type Harness } from './support/harness';

describe('a full single-user rotation', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'orders-db', role: 'orders_app' },
      { id: 'twice-db', role: 'twice_app' },
      { id: 'ghost-db', role: 'ghost_app' },
    ]);
  });
  afterAll(() => h?.stop());

  it('when the orchestration completes, then the new password logs in, the old one is refused and PostgreSQL holds only a SCRAM verifier', async () => {
    const old = h.env.initialPasswords.get('orders-db')!;
    const result = await h.rotate(h.newHost(), 'orders-db');

    expect(result.status.runtimeStatus).toBe('Completed');
    expect(result.custom.outcome).toBe('succeeded');
    expect(result.custom.stages.map((s) => s.stage)).toEqual(['begin', 'stage', 'apply', 'verify', 'promote', 'grace', 'retire']);
    const live = h.liveValue('orders-db');
    expect(live).not.toBe(old);
    expect(live).toMatch(/^[A-Za-z0-9._~-]{32}$/);
    expect(await h.login('orders_app', live)).toBe('accepted');
    expect(await h.login('orders_app', old)).toBe('refused 28P01');
    const verifier = await storedVerifier(h.env, 'orders_app');
    expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(verifier).not.toContain(live);
  });

  it('when the rotation is promoted, then the live version carries its tags and expiry, the old version is disabled and no pending secret is left', () => {
    const versions = h.env.vault.versions(secretNameFor('orders-db'));
    const current = versions[versions.length - 1];
    expect(versions).toHaveLength(2);
    expect(versions[0].enabled).toBe(false);
    expect(current.enabled).toBe(true);
    expect(current.tags).toMatchObject({ [TAG.credential]: 'orders-db', [TAG.role]: 'orders_app' });
    expect(current.tags[TAG.rotationId]).toMatch(/^[0-9a-f-]{36}$/);
    const rotatedAt = Date.parse(current.tags[TAG.rotatedAt]);
    expect(Math.abs(rotatedAt - Date.now())).toBeLessThan(120_000);
    const validityMs = current.expiresOn!.getTime() - rotatedAt;
    expect(Math.round(validityMs / 86_400_000)).toBe(120);
    expect(h.pendingExists('orders-db')).toBe(false);
  });

  it('when a credential is rotated twice, then the second rotation reuses the soft-deleted pending name and succeeds', async () => {
    const host = h.newHost();
    const first = await h.rotate(host, 'twice-db');
    const afterFirst = h.liveValue('twice-db');
    const second = await h.rotate(host, 'twice-db');
    expect([first.custom.outcome, second.custom.outcome]).toEqual(['succeeded', 'succeeded']);
    expect(second.custom.rotationId).not.toBe(first.custom.rotationId);
    expect(await h.login('twice_app', h.liveValue('twice-db'))).toBe('accepted');
    expect(await h.login('twice_app', afterFirst)).toBe('refused 28P01');
    expect(h.env.vault.versions(secretNameFor('twice-db')).filter((v) => v.enabled)).toHaveLength(1);
  });

  it('when the role does not exist, then apply refuses at once naming the role, and Key Vault is untouched', async () => {
    const admin = await h.env.postgres.connect();
    await admin.query('REVOKE ALL ON DATABASE appdb FROM ghost_app');
    await admin.query('DROP ROLE ghost_app');
    await admin.end();
    const before = h.env.vault.versions(secretNameFor('ghost-db')).length;
    const writesBefore = h.env.vault.requests.filter((r) => r.method === 'PUT').length;

    const result = await h.rotate(h.newHost(), 'ghost-db');

    expect(result.status.runtimeStatus).toBe('Failed');
    expect(result.custom.error).toMatchObject({ code: 'unknown-role', stage: 'apply' });
    expect(result.custom.error?.message).toContain('role ghost_app does not exist');
    expect(String(result.status.output)).toContain('failed at apply');
    expect(result.custom.stages.map((s) => s.stage)).toEqual(['begin', 'apply', 'compensate']);
    expect(h.env.vault.versions(secretNameFor('ghost-db'))).toHaveLength(before);
    expect(h.env.vault.requests.filter((r) => r.method === 'PUT').length).toBe(writesBefore);
  });

  it('when the credential id is not configured, then the rotation fails at begin with a message naming it', async () => {
    const result = await h.rotate(h.newHost(), 'no-such-db');
    expect(result.status.runtimeStatus).toBe('Failed');
    expect(result.custom.error).toMatchObject({ code: 'unknown-credential', stage: 'begin' });
    expect(result.custom.error?.message).toContain('"no-such-db"');
  });
});
