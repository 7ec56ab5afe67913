import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type LocalPostgres } from '../src/local/embedded-postgres';
import { psql } from '../src/local/psql-script';
import { generatePassword, scramSha256Verifier } from '../src/rotation/password';

const SQL_DIR = join(__dirname, '..', 'infra', 'postgres');
const ADMIN = { user: 'entra_admin', password: 'entra-admin-local-password' };
const ROTATOR = { user: 'credential_rotator', password: 'rotator-local-password-0001' };

// What the previous 10-rotator.sql, 20-single-user.sql and 21-alternating-users.sql left on a
// server: a CREATEROLE rotator holding ADMIN OPTION on each managed login.
const CREATEROLE_MODEL = `
  CREATE ROLE ${ROTATOR.user} LOGIN CREATEROLE PASSWORD '${ROTATOR.password}';
  CREATE ROLE zep_user LOGIN;
  GRANT zep_user TO ${ROTATOR.user} WITH ADMIN TRUE, INHERIT FALSE, SET FALSE;
  CREATE ROLE orders NOLOGIN;
  CREATE ROLE orders_a LOGIN;
  CREATE ROLE orders_b LOGIN;
  GRANT orders TO orders_a WITH INHERIT FALSE, SET TRUE;
  GRANT orders TO orders_b WITH INHERIT FALSE, SET TRUE;
  ALTER ROLE orders_a SET role = orders;
  ALTER ROLE orders_b SET role = orders;
  GRANT orders_a TO ${ROTATOR.user} WITH ADMIN TRUE, INHERIT TRUE, SET FALSE;
  GRANT orders_b TO ${ROTATOR.user} WITH ADMIN TRUE, INHERIT TRUE, SET FALSE;`;

describe('migrating a CREATEROLE deployment to the password functions (infra/postgres/30-migrate-from-createrole.sql)', () => {
  let pg: LocalPostgres;
  let superuser: Client;
  const clients: Client[] = [];
  const connectAs = async (user: string, password: string): Promise<Client> => {
    const client = new Client({ host: pg.host, port: pg.port, user, password, database: 'postgres' });
    client.on('error', () => undefined);
    await client.connect();
    clients.push(client);
    return client;
  };
  const run = (client: Client, file: string) => client.query(psql(readFileSync(join(SQL_DIR, file), 'utf8'), { rotator_role: ROTATOR.user }));
  const memberships = async (member: string) =>
    (await superuser.query(`SELECT roleid::regrole::text AS role, admin_option AS admin, inherit_option AS inherit FROM pg_auth_members WHERE member = $1::regrole ORDER BY 1`, [member])).rows;

  beforeAll(async () => {
    pg = await startEmbeddedPostgres();
    superuser = await pg.connect();
    await superuser.query(`CREATE ROLE ${ADMIN.user} LOGIN CREATEROLE CREATEDB PASSWORD '${ADMIN.password}'`);
    await superuser.query(`GRANT CREATE ON DATABASE postgres TO ${ADMIN.user}`);
    const admin = await connectAs(ADMIN.user, ADMIN.password);
    await admin.query(CREATEROLE_MODEL);
    await run(admin, '10-rotator.sql');
    await run(admin, '30-migrate-from-createrole.sql');
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.end()));
    await superuser?.end();
    await pg?.stop();
  });

  it('when migrated, then the rotator holds no CREATEROLE and no membership, and the owner holds each login as the bootstrap grants it, allow-listed', async () => {
    expect((await superuser.query('SELECT rolcreaterole FROM pg_roles WHERE rolname = $1', [ROTATOR.user])).rows[0].rolcreaterole).toBe(false);
    expect(await memberships(ROTATOR.user)).toEqual([]);
    expect(await memberships('credential_rotation_admin')).toEqual([
      { role: 'orders_a', admin: true, inherit: true },
      { role: 'orders_b', admin: true, inherit: true },
      { role: 'zep_user', admin: true, inherit: false },
    ]);
    const { rows } = await superuser.query('SELECT role_name::text AS r FROM credential_rotation.managed_role ORDER BY 1');
    expect(rows.map((r) => r.r)).toEqual(['orders_a', 'orders_b', 'zep_user']);
  });

  it('when migrated, then the rotator sets passwords and retires logins through the functions, and can no longer alter a role itself', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    for (const role of ['zep_user', 'orders_a']) {
      const password = generatePassword(32);
      await rotator.query('SELECT credential_rotation.set_password($1, $2)', [role, await scramSha256Verifier(password)]);
      await (await connectAs(role, password)).end();
    }
    const { rows } = await rotator.query('SELECT sessions, ended FROM credential_rotation.retire_login($1, true)', ['orders_a']);
    expect(rows[0]).toEqual({ sessions: 0, ended: 0 });
    await expect(rotator.query(`ALTER ROLE zep_user PASSWORD 'direct-and-refused-0001'`)).rejects.toMatchObject({ code: '42501' });
    await expect(rotator.query(`GRANT zep_user TO ${ROTATOR.user}`)).rejects.toMatchObject({ code: '42501' });
    await expect(rotator.query(`CREATE ROLE rogue LOGIN`)).rejects.toMatchObject({ code: '42501' });
  });

  it('when the migration runs again, then it has nothing to do', async () => {
    const state = `SELECT (SELECT array_agg(row(roleid, member, admin_option, inherit_option)::text ORDER BY roleid, member) FROM pg_auth_members) AS m,
                          (SELECT array_agg(role_name::text ORDER BY role_name) FROM credential_rotation.managed_role) AS listed`;
    const before = (await superuser.query(state)).rows;
    await run(await connectAs(ADMIN.user, ADMIN.password), '30-migrate-from-createrole.sql');
    expect((await superuser.query(state)).rows).toEqual(before);
  });

  it('when the 10-rotator.sql that ran predates is_allowed, then the migration refuses and says to run the new one first; run, it is there', async () => {
    await superuser.query('DROP FUNCTION credential_rotation.is_allowed(text)');
    const admin = await connectAs(ADMIN.user, ADMIN.password);
    await expect(run(admin, '30-migrate-from-createrole.sql')).rejects.toMatchObject({ message: 'run the new 10-rotator.sql first: function credential_rotation.is_allowed(text) does not exist' });
    await admin.query('ROLLBACK');
    await run(admin, '10-rotator.sql');
    await run(admin, '30-migrate-from-createrole.sql');
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    expect((await rotator.query(`SELECT credential_rotation.is_allowed('zep_user') AS allowed`)).rows).toEqual([{ allowed: true }]);
  });
});
