import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load';
import type { PostgresMajor } from '../src/local/embedded-postgres';
import { ROTATOR_ROLE } from '../src/local/environment';
import { startHarness, storedVerifier, type Harness } from './support/harness';

describe.each([17, 14] as PostgresMajor[])('least privilege on PostgreSQL %i: the rotator can rotate its roles and no other', (major) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{ id: 'mine-db', role: 'mine_app' }], { postgresMajor: major });
    const admin = await h.env.postgres.connect();
    await admin.query("CREATE ROLE bystander LOGIN PASSWORD 'not-managed-by-the-rotator-1234'");
    await admin.end();
  });
  afterAll(() => h?.stop());

  it('when bootstrapped, then the rotator holds no attribute and no membership, may execute only the four functions, and rotates its role', async () => {
    const admin = await h.env.postgres.connect();
    const { rows } = await admin.query(
      `SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, (SELECT count(*)::int FROM pg_auth_members m WHERE m.member = r.oid) AS memberships,
              current_setting('server_version_num')::int / 10000 AS major
         FROM pg_roles r WHERE rolname = $1`,
      [ROTATOR_ROLE],
    );
    const executable = await admin.query(
      `SELECT p.oid::regprocedure::text AS f FROM pg_proc p WHERE has_function_privilege($1, p.oid, 'EXECUTE') AND p.pronamespace <> 'pg_catalog'::regnamespace AND p.pronamespace <> 'information_schema'::regnamespace ORDER BY 1`,
      [ROTATOR_ROLE],
    );
    await admin.end();
    expect(rows[0]).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false, memberships: 0, major });
    expect(executable.rows.map((r) => r.f)).toEqual(['credential_rotation.is_allowed(text)', 'credential_rotation.retire_login(text,boolean)', 'credential_rotation.set_login(text,boolean)', 'credential_rotation.set_password(text,text)']);
    expect((await h.rotate(h.newHost(), 'mine-db')).custom.outcome).toBe('succeeded');
  });

  const refusals = ['postgres', 'bystander'];

  it.each(refusals)('when a credential names %s, then apply is refused by the allow-list with a clear permission error and the role is unchanged', async (role) => {
    const base = h.deps.current;
    const mine = base.config.credentials[0];
    const id = `${role}-db`;
    h.env.vault.seed(`${id}-password`, 'whatever-was-here-before-0123456789', { tags: { role } });
    const config = parseConfig({ credentials: [...base.config.credentials, { ...mine, id, postgres: { ...mine.postgres, role }, keyVault: { ...mine.keyVault, secret: `${id}-password`, derived: [] } }] });
    h.deps.current = { ...base, config };
    const before = await storedVerifier(h.env, role);
    try {
      const result = await h.rotate(h.newHost(), id);
      expect(result.status.runtimeStatus).toBe('Failed');
      expect(result.custom.error).toMatchObject({ code: 'permission-denied', stage: 'apply', retryable: false });
      expect(result.custom.error?.message).toBe(
        `apply: setting the password of role ${role} failed: PostgreSQL 42501: role ${role} is not managed by the credential rotator`,
      );
      expect(await storedVerifier(h.env, role)).toBe(before);
    } finally {
      h.deps.current = base;
    }
  });
});
