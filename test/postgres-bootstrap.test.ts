import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type LocalPostgres } from '../src/local/embedded-postgres';
import { psql } from '../src/local/psql-script';

const SQL_DIR = join(__dirname, '..', 'infra', 'postgres');

// The bootstrap runs as an administrator that is not a superuser, as the Microsoft Entra
// administrator of an Azure flexible server is not (azure_pg_admin has CREATEROLE, CREATEDB).
const ADMIN = { user: 'entra_admin', password: 'entra-admin-local-password' };
const ROTATOR = { user: 'credential_rotator', password: 'rotator-local-password-0001' };
const SINGLE = 'zep_user';
const GROUP = 'orders';
const LOGIN_A = 'orders_a';
const LOGIN_B = 'orders_b';
const UNMANAGED = 'billing_user';
const APP_DB = 'orders_db';

const VARIABLES = {
  rotator_role: ROTATOR.user,
  rotator_password: ROTATOR.password,
  managed_role: SINGLE,
  group_role: GROUP,
  login_a: LOGIN_A,
  login_b: LOGIN_B,
};

// Stands in for 00-entra-principal.sql, which calls a function only Azure has: the same role,
// signing in with a password instead of an Entra token.
const LOCAL_PRINCIPAL = `CREATE ROLE :"rotator_role" LOGIN PASSWORD :'rotator_password';`;

let pg: LocalPostgres;
let superuser: Client;
const clients: Client[] = [];

beforeAll(async () => {
  pg = await startEmbeddedPostgres();
  superuser = await pg.connect();
  await superuser.query(`CREATE ROLE ${ADMIN.user} LOGIN CREATEROLE CREATEDB PASSWORD '${ADMIN.password}'`);
  await superuser.query(`CREATE ROLE ${UNMANAGED} LOGIN PASSWORD 'billing-local-password'`);
  const admin = await connectAs(ADMIN.user, ADMIN.password);
  await admin.query(psql(LOCAL_PRINCIPAL, VARIABLES));
  await runBootstrap(admin);
  // The application's database, owned by the group (what the guide asks the administrator to arrange).
  await superuser.query(`CREATE DATABASE ${APP_DB} OWNER ${GROUP}`);
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.end()));
  await superuser?.end();
  await pg?.stop();
});

describe('PostgreSQL bootstrap: the least-privilege rotator role (infra/postgres)', () => {
  it('when run on the server, then it is PostgreSQL 16 or later, whose CREATEROLE rules the bootstrap relies on', async () => {
    const { rows } = await superuser.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    expect(Number(rows[0].v)).toBeGreaterThanOrEqual(160000);
  });

  it('when bootstrapped, then the rotator is a CREATEROLE login with no other attribute and holds only the managed logins', async () => {
    const { rows: [role] } = await superuser.query(
      `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1`,
      [ROTATOR.user],
    );
    expect(role).toEqual({ rolsuper: false, rolcreaterole: true, rolcreatedb: false, rolreplication: false, rolbypassrls: false, rolcanlogin: true });
    const { rows: memberships } = await superuser.query(
      `SELECT g.rolname AS role, m.admin_option AS admin, m.inherit_option AS inherit, m.set_option AS set
         FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
        WHERE r.rolname = $1 ORDER BY g.rolname`,
      [ROTATOR.user],
    );
    expect(memberships).toEqual([
      { role: LOGIN_A, admin: true, inherit: true, set: false },
      { role: LOGIN_B, admin: true, inherit: true, set: false },
      { role: SINGLE, admin: true, inherit: false, set: false },
    ]);
  });

  it('when the rotator signs in with its password, then it sets the password of the single-user role and of both alternating logins', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    for (const role of [SINGLE, LOGIN_A, LOGIN_B]) {
      const password = `${role}-rotated-${Date.now()}`;
      await rotator.query(`ALTER ROLE ${role} PASSWORD '${password}'`);
      const app = await connectAs(role, password);
      const { rows } = await app.query<{ user: string }>('SELECT session_user AS user');
      expect(rows[0].user).toBe(role);
      await app.end();
    }
  });

  it('when the rotator retires an alternating login, then the login cannot sign in until the rotator switches it back on', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    const password = `${LOGIN_B}-retired-${Date.now()}`;
    await rotator.query(`ALTER ROLE ${LOGIN_B} PASSWORD '${password}'`);
    await rotator.query(`ALTER ROLE ${LOGIN_B} NOLOGIN`);
    await expect(connectAs(LOGIN_B, password)).rejects.toMatchObject({ code: '28000' });
    await rotator.query(`ALTER ROLE ${LOGIN_B} LOGIN`);
    await (await connectAs(LOGIN_B, password)).end();
    await rotator.query(`ALTER ROLE ${LOGIN_B} PASSWORD NULL`);
    await expect(connectAs(LOGIN_B, password)).rejects.toMatchObject({ code: '28P01' });
  });

  it('when the rotator ends the sessions of an alternating login, then they are terminated', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    const password = `${LOGIN_A}-session-${Date.now()}`;
    await rotator.query(`ALTER ROLE ${LOGIN_A} PASSWORD '${password}'`);
    const session = await connectAs(LOGIN_A, password);
    // The server's FATAL arrives first, then the socket closes: both surface as 'error'.
    const ended = new Promise<Error>((resolve) => session.on('error', resolve));
    const { rows } = await rotator.query<{ terminated: boolean }>(
      `SELECT bool_and(pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity WHERE usename = $1`,
      [LOGIN_A],
    );
    expect(rows[0].terminated).toBe(true);
    expect(await ended).toMatchObject({ code: '57P01' });
  });

  it('when the rotator reaches for roles it does not manage, then PostgreSQL refuses with a permission error', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    const refused = [
      `ALTER ROLE postgres PASSWORD 'stolen-superuser-password'`,
      `ALTER ROLE ${UNMANAGED} PASSWORD 'stolen-unmanaged-password'`,
      `ALTER ROLE ${UNMANAGED} NOLOGIN`,
      `ALTER ROLE ${GROUP} LOGIN`,
      `ALTER ROLE ${ROTATOR.user} SUPERUSER`,
      `ALTER ROLE ${ROTATOR.user} CREATEDB`,
      `ALTER ROLE ${ROTATOR.user} BYPASSRLS`,
      `CREATE ROLE rogue_superuser SUPERUSER LOGIN PASSWORD 'rogue-password'`,
      `GRANT pg_signal_backend TO ${ROTATOR.user}`,
      `GRANT pg_read_all_data TO ${ROTATOR.user}`,
      `GRANT ${UNMANAGED} TO ${ROTATOR.user}`,
    ];
    for (const statement of refused) {
      await expect(rotator.query(statement), statement).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('when the rotator tries to end a superuser or an unmanaged session, then PostgreSQL refuses with a permission error', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    const unmanaged = await connectAs(UNMANAGED, 'billing-local-password');
    for (const session of [superuser, unmanaged]) {
      const { rows } = await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await expect(rotator.query('SELECT pg_terminate_backend($1)', [rows[0].pid])).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('when alternating logins sign in, then they act as the group: a table one creates is owned by the group and usable by the other', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    const passwords = { [LOGIN_A]: `${LOGIN_A}-objects-${Date.now()}`, [LOGIN_B]: `${LOGIN_B}-objects-${Date.now()}` };
    for (const [role, password] of Object.entries(passwords)) await rotator.query(`ALTER ROLE ${role} PASSWORD '${password}'`);

    const a = await connectAs(LOGIN_A, passwords[LOGIN_A], APP_DB);
    expect((await a.query<{ user: string }>('SELECT current_user AS user')).rows[0].user).toBe(GROUP);
    await a.query('CREATE TABLE orders (id int PRIMARY KEY, note text)');
    await a.query(`INSERT INTO orders VALUES (1, 'written by a')`);
    const owner = await a.query<{ owner: string }>(`SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'orders'`);
    expect(owner.rows[0].owner).toBe(GROUP);

    const b = await connectAs(LOGIN_B, passwords[LOGIN_B], APP_DB);
    await b.query(`INSERT INTO orders VALUES (2, 'written by b')`);
    await b.query(`UPDATE orders SET note = 'updated by b' WHERE id = 1`);
    const { rows } = await b.query('SELECT id, note FROM orders ORDER BY id');
    expect(rows).toEqual([{ id: 1, note: 'updated by b' }, { id: 2, note: 'written by b' }]);
  });

  it('when the rotator queries application data, then it has no access: it neither inherits nor assumes the managed roles', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password, APP_DB);
    const owner = await pg.connect(APP_DB);
    clients.push(owner);
    await owner.query(`CREATE TABLE IF NOT EXISTS probe_${SINGLE} (id int)`);
    await owner.query(`GRANT SELECT ON probe_${SINGLE} TO ${SINGLE}`);
    await expect(rotator.query('SELECT count(*) FROM orders')).rejects.toMatchObject({ code: '42501' });
    await expect(rotator.query(`SELECT count(*) FROM probe_${SINGLE}`)).rejects.toMatchObject({ code: '42501' });
    for (const role of [SINGLE, LOGIN_A, GROUP]) {
      await expect(rotator.query(`SET ROLE ${role}`), role).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('when the bootstrap runs a second time, then it succeeds and changes nothing', async () => {
    const before = await superuser.query('SELECT roleid, member, admin_option, inherit_option, set_option FROM pg_auth_members ORDER BY 1, 2');
    const admin = await connectAs(ADMIN.user, ADMIN.password);
    await runBootstrap(admin);
    const after = await superuser.query('SELECT roleid, member, admin_option, inherit_option, set_option FROM pg_auth_members ORDER BY 1, 2');
    expect(after.rows).toEqual(before.rows);
  });

  it('when the identity is made a principal on Azure, then it is mapped by object id as a service principal that is not an administrator', () => {
    const sql = readFileSync(join(SQL_DIR, '00-entra-principal.sql'), 'utf8');
    expect(sql).toMatch(/pgaadauth_create_principal_with_oid\(role_name, object_id, 'service', false, false\)/);
    expect(psql(sql, { rotator_role: 'id-rotator', rotator_object_id: '00000000-0000-0000-0000-000000000001' })).toContain(
      `create_entra_service_principal('id-rotator', '00000000-0000-0000-0000-000000000001')`,
    );
  });
});

async function runBootstrap(admin: Client): Promise<void> {
  for (const file of ['10-rotator.sql', '20-single-user.sql', '21-alternating-users.sql']) {
    await admin.query(psql(readFileSync(join(SQL_DIR, file), 'utf8'), VARIABLES));
  }
}

async function connectAs(user: string, password: string, database = 'postgres'): Promise<Client> {
  const client = new Client({ host: pg.host, port: pg.port, user, password, database });
  await client.connect();
  clients.push(client);
  return client;
}
