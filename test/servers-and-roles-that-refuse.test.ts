import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCredential } from '../src/config/load';
import { secretNameFor } from '../src/local/environment';
import { ADMIN_DATABASE } from '../src/targets/postgres';
import { storedVerifier, startHarness, type Harness } from './support/harness';

/** Each case (server settings go on the database the rotator's admin sessions use, where apply reads them): what the administrator did to the server or role, the code apply answers, and words its message must hold. */
const CASES = [
  { id: 'md5-server', role: 'md5_app', code: 'scram-not-accepted', cause: 'password_encryption = md5', setup: `ALTER DATABASE ${ADMIN_DATABASE} SET password_encryption = 'md5'`, undo: `ALTER DATABASE ${ADMIN_DATABASE} RESET password_encryption` },
  {
    id: 'azure-md5-only',
    role: 'azure_md5_app',
    code: 'scram-not-accepted',
    cause: 'azure.accepted_password_auth_method = md5',
    setup: `ALTER DATABASE ${ADMIN_DATABASE} SET azure.accepted_password_auth_method = 'md5'`,
    undo: `ALTER DATABASE ${ADMIN_DATABASE} RESET azure.accepted_password_auth_method`,
  },
  { id: 'nologin-role', role: 'nologin_app', code: 'role-nologin', cause: 'role nologin_app is NOLOGIN', setup: 'ALTER ROLE nologin_app NOLOGIN' },
  { id: 'no-connections', role: 'no_connections_app', code: 'role-connection-limit', cause: 'role no_connections_app has CONNECTION LIMIT 0', setup: 'ALTER ROLE no_connections_app CONNECTION LIMIT 0' },
  { id: 'expired-role', role: 'expired_app', code: 'role-expired', cause: 'role expired_app has VALID UNTIL 2001-01-01', setup: "ALTER ROLE expired_app VALID UNTIL '2001-01-01 00:00:00+00'" },
] as const;

describe('servers and roles that refuse', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([...CASES.map(({ id, role }) => ({ id, role })), { id: 'azure-both', role: 'azure_both_app' }, { id: 'sqlstate-probe', role: 'sqlstate_probe' }]);
  });
  afterAll(() => h?.stop());

  async function superuser(sql: string): Promise<void> {
    const admin = await h.env.postgres.connect();
    try {
      await admin.query(sql);
    } finally {
      await admin.end();
    }
  }

  it.each(CASES)('when $cause, then apply refuses with $code naming it before anything is written', async ({ id, role, code, cause, setup, ...rest }) => {
    const liveVersions = h.env.vault.versions(secretNameFor(id)).length;
    const verifier = await storedVerifier(h.env, role);
    const writesBefore = h.env.vault.requests.filter((r) => r.method !== 'GET').length;
    await superuser(setup);
    try {
      const result = await h.rotate(h.newHost(), id);

      expect(result.status.runtimeStatus).toBe('Failed');
      expect(result.custom.error).toMatchObject({ code, stage: 'apply' });
      expect(result.custom.error?.message).toContain(cause);
      // Compensation finds no pending secret of this rotation: nothing to undo, no role touched.
      expect(result.custom.stages.map((s) => `${s.stage}:${s.outcome}`)).toEqual(['begin:succeeded', 'apply:failed', 'compensate:succeeded']);
    } finally {
      if ('undo' in rest) await superuser(rest.undo);
    }
    expect(h.env.vault.versions(secretNameFor(id))).toHaveLength(liveVersions);
    expect(h.pendingExists(id)).toBe(false);
    expect(h.env.vault.requests.filter((r) => r.method !== 'GET').length).toBe(writesBefore);
    expect(await storedVerifier(h.env, role)).toBe(verifier);
  });

  it('when Azure accepts both md5 and SCRAM-SHA-256, then the rotation goes ahead', async () => {
    await superuser(`ALTER DATABASE ${ADMIN_DATABASE} SET azure.accepted_password_auth_method = 'md5,scram-sha-256'`);
    try {
      expect((await h.rotate(h.newHost(), 'azure-both')).custom.outcome).toBe('succeeded');
    } finally {
      await superuser(`ALTER DATABASE ${ADMIN_DATABASE} RESET azure.accepted_password_auth_method`);
    }
  });

  it('when a NOLOGIN role is tried (SQLSTATE 28000), then the error says it may not log in, apart from a wrong password (28P01)', async () => {
    const postgres = h.env.deps.postgres(findCredential(h.env.config, 'sqlstate-probe'));
    const password = h.liveValue('sqlstate-probe');
    await expect(postgres.probe('verify', 'sqlstate_probe', `${password}x`)).rejects.toMatchObject({ code: 'login-refused' });
    await superuser('ALTER ROLE sqlstate_probe NOLOGIN');

    const refused = await postgres.probe('verify', 'sqlstate_probe', password).catch((e: unknown) => e);

    expect(refused).toMatchObject({ code: 'login-not-permitted', retryable: false });
    expect((refused as Error).message).toContain('28000');
    expect((refused as Error).message).toContain('not permitted to log in');
    expect(await postgres.canLogin('apply', 'sqlstate_probe', password)).toBe(false);
  });
});
