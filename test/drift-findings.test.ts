import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCredential } from '../src/config/load';
import { secretNameFor, startLocalEnvironment, type LocalEnvironment } from '../src/local/environment';
import { checkDrift, FINDINGS, type FindingCode, type HealthReport } from '../src/rotation/drift';
import { TAG } from '../src/rotation/state';

/**
 * One credential per finding, each broken in exactly one way behind Key Vault's back, on a
 * real PostgreSQL and the emulators. Every finding code the check can raise is covered here.
 */

const URL_TEMPLATE = 'postgresql://{user}:{password}@{host}:{port}/{database}';

let env: LocalEnvironment;
const check = (id: string, now?: Date): Promise<HealthReport> => checkDrift(now ? { ...env.deps, now: () => now } : env.deps, findCredential(env.config, id, 'test'));
const codes = (r: HealthReport): FindingCode[] => r.findings.map((f) => f.code);

async function asSuperuser(sql: string): Promise<void> {
  const client = await env.postgres.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  env = await startLocalEnvironment([
    { id: 'fine', role: 'fine_app' },
    { id: 'changed', role: 'changed_app' },
    { id: 'probe', role: 'probe_app', probeQuery: 'SELECT * FROM no_such_table' },
    { id: 'missing', role: 'missing_app' },
    { id: 'nologin', role: 'nologin_app' },
    { id: 'expired-role', role: 'expired_role_app' },
    { id: 'limit', role: 'limit_app' },
    { id: 'pair', role: 'pair', strategy: 'alternating-users' },
    { id: 'derived', role: 'derived_app', derived: [{ secret: 'derived-url', template: URL_TEMPLATE }] },
    { id: 'gh', role: 'gh_app', github: [{ repo: 'acme/gh', secret: 'DB_PASSWORD' }, { repo: 'acme/gh', secret: 'DB_PASSWORD_2' }] },
    { id: 'expiry', role: 'expiry_app' },
    { id: 'unseeded', role: 'unseeded_app', seedLive: false },
  ]);
}, 120_000);

afterAll(async () => env?.stop());

describe('the drift check finds what drifted from Key Vault', () => {
  it('when nothing was touched, then the credential is healthy with no findings', async () => {
    const report = await check('fine');
    expect(report).toMatchObject({ credentialId: 'fine', health: 'healthy', findings: [] });
  });

  it('when the role password was changed behind Key Vault, then live-login-refused says to rotate', async () => {
    await asSuperuser(`ALTER ROLE changed_app PASSWORD 'set-by-hand-0000000000000000000000'`);
    const report = await check('changed');
    expect(codes(report)).toEqual(['live-login-refused']);
    expect(report.findings[0]).toMatchObject({ severity: 'critical', subject: 'changed_app' });
    expect(report.findings[0].message).toMatch(/does not log in as changed_app.*rotator rotate changed/);
    expect(report.health).toBe('drifted');
  });

  it('when the probe query fails, then probe-failed names it', async () => {
    const report = await check('probe');
    expect(codes(report)).toEqual(['probe-failed']);
    expect(report.findings[0].message).toContain('no_such_table');
  });

  it('when the role is dropped, then role-missing says which bootstrap to run', async () => {
    await asSuperuser('REVOKE CONNECT ON DATABASE appdb FROM missing_app; DROP ROLE missing_app');
    const report = await check('missing');
    expect(codes(report)).toContain('role-missing');
    expect(report.findings.find((f) => f.code === 'role-missing')!.message).toContain('bootstrap script');
  });

  it('when the role is NOLOGIN, then role-nologin is found, and not a password changed outside Key Vault', async () => {
    await asSuperuser('ALTER ROLE nologin_app NOLOGIN');
    expect(codes(await check('nologin')).sort()).toEqual(['role-nologin']);
  });

  it('when the role has VALID UNTIL in the past, then role-expired is found', async () => {
    await asSuperuser(`ALTER ROLE expired_role_app VALID UNTIL '2001-01-01'`);
    expect(codes(await check('expired-role'))).toContain('role-expired');
  });

  it('when the role has CONNECTION LIMIT 0, then role-connection-limit is found and the refused probe is check-failed', async () => {
    await asSuperuser('ALTER ROLE limit_app CONNECTION LIMIT 0');
    const report = await check('limit');
    expect(codes(report).sort()).toEqual(['check-failed', 'role-connection-limit']);
    expect(report.findings.find((f) => f.code === 'check-failed')!.message).toMatch(/could not check PostgreSQL: .*53300/);
  });

  it('when the idle alternating login still has LOGIN after a completed rotation, then idle-login-active is a warning only', async () => {
    await asSuperuser('ALTER ROLE pair_b LOGIN');
    const report = await check('pair');
    expect(codes(report)).toEqual(['idle-login-active']);
    expect(report.findings[0].severity).toBe('warning');
    expect(report.health).toBe('healthy');
  });

  it('when a derived secret is missing, or holds another value, then derived-stale says to rewrite it', async () => {
    expect(codes(await check('derived'))).toEqual(['derived-stale']);
    env.vault.seed('derived-url', 'postgresql://someone:else@elsewhere/db');
    const report = await check('derived');
    expect(report.findings).toEqual([expect.objectContaining({ code: 'derived-stale', target: 'derived-url', message: expect.stringContaining('not the rendering of the live value') })]);
  });

  it('when a GitHub secret was never written, or written before the live version, then github-missing and github-stale, and the report says values cannot be read', async () => {
    const gh = findCredential(env.config, 'gh', 'test');
    await env.deps.github().putSecret('test', { repo: 'acme/gh', name: 'DB_PASSWORD' }, env.initialPasswords.get('gh')!);
    const later = new Date(Date.now() + 5_000);
    env.vault.seed(secretNameFor('gh'), env.initialPasswords.get('gh')!, { tags: { [TAG.role]: 'gh_app', [TAG.rotatedAt]: later.toISOString() }, expiresOn: new Date(Date.now() + 30 * 86_400_000) });
    const report = await check(gh.id);
    expect(report.findings.map((f) => [f.code, f.target])).toEqual([['github-stale', 'github:0'], ['github-missing', 'github:1']]);
    expect(report.notes.join(' ')).toContain('values cannot be read');
  });

  it('when the live version has no expiry, expires within the margin, or has expired, then no-expiry, expiry-near, expired', async () => {
    const password = env.initialPasswords.get('expiry')!;
    const reseed = (expiresOn?: Date) => env.vault.seed(secretNameFor('expiry'), password, { tags: { [TAG.role]: 'expiry_app' }, expiresOn });
    reseed(undefined);
    expect(codes(await check('expiry'))).toEqual(['no-expiry']);
    reseed(new Date(Date.now() + 3 * 86_400_000));
    expect(codes(await check('expiry'))).toEqual(['expiry-near']);
    reseed(new Date(Date.now() + 86_400_000));
    const expired = await check('expiry', new Date(Date.now() + 2 * 86_400_000));
    expect(codes(expired)).toEqual(['expired']);
    expect(expired.health).toBe('drifted');
  });

  it('when a pending secret outlived the janitor bound, then pending-abandoned; with no live secret, no-live-secret', async () => {
    env.vault.seed(`${secretNameFor('fine')}-pending`, 'x'.repeat(32), { tags: { [TAG.rotationId]: 'r-old', [TAG.role]: 'fine_app' } });
    const later = await check('fine', new Date(Date.now() + 7 * 3600_000));
    expect(codes(later)).toEqual(['pending-abandoned']);
    expect(later.findings[0].message).toContain('janitor');
    const none = await check('unseeded');
    expect(codes(none)).toEqual(['no-live-secret']);
  });

  it('when every test above has run, then each finding code was produced', () => {
    const covered = new Set(['live-login-refused', 'probe-failed', 'role-missing', 'role-nologin', 'role-expired', 'role-connection-limit', 'idle-login-active', 'derived-stale', 'github-stale', 'github-missing', 'no-expiry', 'expiry-near', 'expired', 'pending-abandoned', 'no-live-secret', 'check-failed']);
    // The Container Apps codes have their own file and coverage check: test/drift-container-apps.test.ts.
    expect(Object.keys(FINDINGS).filter((c) => !covered.has(c) && !c.startsWith('container-app-'))).toEqual([]);
  });
});
