import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load';
import { ROTATOR_ROLE } from '../src/local/environment';
import { startHarness, storedVerifier, type Harness } from './support/harness';

describe('least privilege: the rotator can rotate its roles and no other', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{ id: 'mine-db', role: 'mine_app' }]);
    const admin = await h.env.postgres.connect();
    await admin.query("CREATE ROLE bystander LOGIN PASSWORD 'not-managed-by-the-rotator-1234'");
    await admin.end();
  });
  afterAll(() => h?.stop());

  it('the rotator is neither superuser nor able to create databases, and holds ADMIN OPTION only on its managed roles', async () => {
    const admin = await h.env.postgres.connect();
    const { rows } = await admin.query('SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = $1', [ROTATOR_ROLE]);
    const admins = await admin.query("SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 AND m.admin_option ORDER BY 1", [ROTATOR_ROLE]);
    await admin.end();
    expect(rows[0]).toEqual({ rolsuper: false, rolcreaterole: true, rolcreatedb: false, rolbypassrls: false });
    expect(admins.rows.map((r) => r.rolname)).toEqual(['mine_app']);
    expect((await h.rotate(h.newHost(), 'mine-db')).custom.outcome).toBe('succeeded');
  });

  const refusals = [
    ['postgres', 'Only roles with the SUPERUSER attribute may alter roles with the SUPERUSER attribute.'],
    ['bystander', "To change another role's password, the current user must have the CREATEROLE attribute and the ADMIN option on the role."],
  ];

  it.each(refusals)('when a credential names %s, then apply is refused by PostgreSQL with a clear permission error and the role is unchanged', async (role, why) => {
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
        `apply: setting the password of role ${role} failed: PostgreSQL 42501: permission denied to alter role. ${why}`,
      );
      expect(await storedVerifier(h.env, role)).toBe(before);
    } finally {
      h.deps.current = base;
    }
  });
});
