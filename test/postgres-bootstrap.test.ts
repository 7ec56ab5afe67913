import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type LocalPostgres, type PostgresMajor } from '../src/local/embedded-postgres';
import { psql } from '../src/local/psql-script';
import { generatePassword, scramSha256Verifier } from '../src/rotation/password';

const SQL_DIR = join(__dirname, '..', 'infra', 'postgres');

// The bootstrap runs as an administrator that is not a superuser, as the Microsoft Entra
// administrator of an Azure flexible server is not (azure_pg_admin has CREATEROLE, CREATEDB,
// and may create schemas in the postgres database, where Azure's extensions go).
const ADMIN = { user: 'entra_admin', password: 'entra-admin-local-password' };
const ROTATOR = { user: 'credential_rotator', password: 'rotator-local-password-0001' };
const SINGLE = 'zep_user';
const GROUP = 'orders';
const LOGIN_A = 'orders_a';
const LOGIN_B = 'orders_b';
const UNMANAGED = 'billing_user';
const APP_DB = 'orders_db';
const FUNCTIONS = ['is_allowed(text)', 'retire_login(text,boolean)', 'set_login(text,boolean)', 'set_password(text,text)'];

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

describe.each([17, 14] as PostgresMajor[])('PostgreSQL %i bootstrap: the least-privilege rotator role (infra/postgres)', (major) => {
  let pg: LocalPostgres;
  let superuser: Client;
  const clients: Client[] = [];

  const connectAs = async (user: string, password: string, database = 'postgres'): Promise<Client> => {
    const client = new Client({ host: pg.host, port: pg.port, user, password, database });
    client.on('error', () => undefined);
    await client.connect();
    clients.push(client);
    return client;
  };
  const setPassword = async (rotator: Client, role: string, password: string | null) =>
    rotator.query('SELECT credential_rotation.set_password($1, $2)', [role, password === null ? null : await scramSha256Verifier(password)]);

  beforeAll(async () => {
    pg = await startEmbeddedPostgres({ major });
    superuser = await pg.connect();
    await superuser.query(`CREATE ROLE ${ADMIN.user} LOGIN CREATEROLE CREATEDB PASSWORD '${ADMIN.password}'`);
    await superuser.query(`GRANT CREATE ON DATABASE postgres TO ${ADMIN.user}`);
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

  it(`when run on the server, then it is PostgreSQL ${major}`, async () => {
    const { rows } = await superuser.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    expect(Math.floor(Number(rows[0].v) / 10000)).toBe(major);
  });

  it('when bootstrapped, then the rotator is a plain login with no membership and may execute exactly the four functions', async () => {
    const { rows: [role] } = await superuser.query(
      `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin,
              (SELECT count(*)::int FROM pg_auth_members m WHERE m.member = r.oid) AS memberships
         FROM pg_roles r WHERE rolname = $1`,
      [ROTATOR.user],
    );
    expect(role).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false, rolbypassrls: false, rolcanlogin: true, memberships: 0 });
    const { rows: functions } = await superuser.query(
      `SELECT p.oid::regprocedure::text AS signature, pg_get_userbyid(p.proowner) AS owner, p.prosecdef AS definer, p.proconfig AS config,
              has_function_privilege($1, p.oid, 'EXECUTE') AS rotator
         FROM pg_proc p WHERE p.pronamespace = 'credential_rotation'::regnamespace ORDER BY 1`,
      [ROTATOR.user],
    );
    expect(functions.filter((f) => f.rotator).map((f) => f.signature)).toEqual(FUNCTIONS.map((f) => `credential_rotation.${f}`));
    for (const f of functions) {
      expect(f.owner, f.signature).toBe('credential_rotation_admin');
      expect(f.config, f.signature).toEqual(['search_path=pg_catalog, pg_temp']);
      expect(f.definer, f.signature).toBe(FUNCTIONS.some((g) => f.signature.endsWith(g)));
    }
    const { rows: owner } = await superuser.query(`SELECT rolcanlogin, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'credential_rotation_admin'`);
    expect(owner).toEqual([{ rolcanlogin: false, rolsuper: false, rolcreaterole: true }]);
  });

  it('when bootstrapped, then the allow-list holds the managed logins, and only its owner may change it', async () => {
    const { rows } = await superuser.query('SELECT role_name::text FROM credential_rotation.managed_role ORDER BY 1');
    expect(rows.map((r) => r.role_name)).toEqual([LOGIN_A, LOGIN_B, SINGLE]);
    const { rows: acl } = await superuser.query(`SELECT relacl::text[] AS acl, pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'credential_rotation.managed_role'::regclass`);
    expect(acl[0].owner).toBe('credential_rotation_admin');
    expect((acl[0].acl as string[]).filter((entry) => !entry.startsWith('credential_rotation_admin='))).toEqual([]);
  });

  it('when the rotator asks is_allowed, then it learns whether each role is listed, cannot read or change the list itself, and the function only reads', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    const { rows } = await rotator.query<{ role: string; allowed: boolean }>('SELECT r AS role, credential_rotation.is_allowed(r) AS allowed FROM unnest($1::text[]) AS r', [[SINGLE, LOGIN_A, LOGIN_B, GROUP, UNMANAGED, 'postgres', 'no_such_role']]);
    expect(Object.fromEntries(rows.map((r) => [r.role, r.allowed]))).toEqual({ [SINGLE]: true, [LOGIN_A]: true, [LOGIN_B]: true, [GROUP]: false, [UNMANAGED]: false, postgres: false, no_such_role: false });
    await expect(rotator.query('SELECT role_name FROM credential_rotation.managed_role')).rejects.toMatchObject({ code: '42501' });
    const { rows: [f] } = await superuser.query(`SELECT provolatile, prosecdef FROM pg_proc WHERE oid = 'credential_rotation.is_allowed(text)'::regprocedure`);
    expect(f).toEqual({ provolatile: 's', prosecdef: true });
    await expect(connectAs(UNMANAGED, 'billing-local-password').then((c) => c.query(`SELECT credential_rotation.is_allowed('${SINGLE}')`))).rejects.toMatchObject({ code: '42501' });
  });

  it('when bootstrapped, then the rotator never logs bound parameters where this administrator may say so', async () => {
    const { rows } = await superuser.query(`SELECT setconfig FROM pg_db_role_setting WHERE setrole = $1::regrole AND setdatabase = 0`, [ROTATOR.user]);
    // log_parameter_max_length and pg_stat_statements.track are superuser settings: this administrator gets a WARNING instead.
    expect(rows[0].setconfig).toContain('log_parameter_max_length_on_error=0');
  });

  it('when the rotator calls set_password, then the single-user role and both alternating logins log in with the new password', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    for (const role of [SINGLE, LOGIN_A, LOGIN_B]) {
      const password = generatePassword(32);
      await setPassword(rotator, role, password);
      const app = await connectAs(role, password);
      const { rows } = await app.query<{ user: string }>('SELECT session_user AS user');
      expect(rows[0].user).toBe(role);
      await app.end();
    }
  });

  it('when the rotator switches an alternating login off and on and clears its password, then logins follow', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    const password = generatePassword(32);
    await setPassword(rotator, LOGIN_B, password);
    await rotator.query('SELECT credential_rotation.set_login($1, false)', [LOGIN_B]);
    await expect(connectAs(LOGIN_B, password)).rejects.toMatchObject({ code: '28000' });
    await rotator.query('SELECT credential_rotation.set_login($1, true)', [LOGIN_B]);
    await (await connectAs(LOGIN_B, password)).end();
    await setPassword(rotator, LOGIN_B, null);
    await expect(connectAs(LOGIN_B, password)).rejects.toMatchObject({ code: '28P01' });
  });

  it('when the rotator retires an alternating login, then it cannot log in and its sessions are ended', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    const password = generatePassword(32);
    await setPassword(rotator, LOGIN_A, password);
    const session = await connectAs(LOGIN_A, password);
    // The server's FATAL arrives first, then the socket closes: both surface as 'error'.
    const ended = new Promise<Error>((resolve) => session.on('error', resolve));
    const { rows } = await rotator.query('SELECT sessions, ended FROM credential_rotation.retire_login($1, true)', [LOGIN_A]);
    expect(rows[0]).toEqual({ sessions: 1, ended: 1 });
    expect(await ended).toMatchObject({ code: '57P01' });
    await expect(connectAs(LOGIN_A, password)).rejects.toMatchObject({ code: '28P01' });
  });

  it('when the rotator tries to create a role, alter any role itself, or grant anything, then PostgreSQL refuses and nothing changes', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password, APP_DB);
    const warnings: string[] = [];
    rotator.on('notice', (notice) => warnings.push(`${notice.code}`));
    const state = async () => {
      // A GRANT that grants nothing may still write out the default ACL: compare what the ACLs say.
      const shared = await superuser.query(`SELECT (SELECT array_agg(row(roleid, member, admin_option)::text ORDER BY roleid, member) FROM pg_auth_members) AS members,
        (SELECT array_agg(row(rolname, rolpassword, rolcanlogin, rolcreaterole, rolsuper)::text ORDER BY rolname) FROM pg_authid) AS roles,
        (SELECT array_agg(row(datname, coalesce(datacl, acldefault('d', datdba)))::text ORDER BY datname) FROM pg_database) AS databases`);
      const app = await pg.connect(APP_DB);
      const local = await app.query(`SELECT (SELECT array_agg(row(nspname, coalesce(nspacl, acldefault('n', nspowner)))::text ORDER BY nspname) FROM pg_namespace) AS schemas,
        (SELECT array_agg(row(relname, relacl)::text ORDER BY relname) FROM pg_class WHERE relacl IS NOT NULL) AS tables`);
      await app.end();
      return { ...shared.rows[0], ...local.rows[0] };
    };
    const owner = await pg.connect(APP_DB);
    await owner.query('CREATE TABLE ledger (id int)');
    await owner.end();
    const before = await state();
    const refused = [
      `CREATE ROLE rogue LOGIN PASSWORD 'rogue-password'`,
      `CREATE ROLE rogue_superuser SUPERUSER LOGIN PASSWORD 'rogue-password'`,
      `ALTER ROLE ${SINGLE} PASSWORD 'set-without-the-functions'`,
      `ALTER ROLE ${LOGIN_A} LOGIN`,
      `ALTER ROLE postgres PASSWORD 'stolen-superuser-password'`,
      `ALTER ROLE ${UNMANAGED} PASSWORD 'stolen-unmanaged-password'`,
      `ALTER ROLE ${ROTATOR.user} CREATEROLE`,
      `ALTER ROLE ${ROTATOR.user} SUPERUSER`,
      `GRANT ${SINGLE} TO ${ROTATOR.user}`,
      `GRANT ${GROUP} TO ${UNMANAGED}`,
      `GRANT ${UNMANAGED} TO ${ROTATOR.user}`,
      `GRANT credential_rotation_admin TO ${ROTATOR.user}`,
      `GRANT pg_signal_backend TO ${ROTATOR.user}`,
      `GRANT pg_read_all_data TO ${ROTATOR.user}`,
      `GRANT SELECT ON ledger TO ${UNMANAGED}`,
    ];
    for (const statement of refused) {
      await expect(rotator.query(statement), statement).rejects.toMatchObject({ code: '42501' });
    }
    // Where PUBLIC gave the rotator a privilege without grant option, PostgreSQL grants nothing and warns.
    const ungranted = [
      `GRANT CONNECT ON DATABASE ${APP_DB} TO ${UNMANAGED}`,
      `GRANT ALL ON DATABASE ${APP_DB} TO ${UNMANAGED}`,
      `GRANT USAGE ON SCHEMA public TO ${UNMANAGED}`,
    ];
    for (const statement of ungranted) await rotator.query(statement);
    expect(warnings).toEqual(ungranted.map(() => '01007'));
    expect(await state()).toEqual(before);
  });

  it('when the rotator names a role missing from the allow-list or reaches past the three functions, then it is refused and nothing changes', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    const before = await superuser.query('SELECT rolname, rolpassword, rolcanlogin FROM pg_authid ORDER BY 1');
    const verifier = await scramSha256Verifier(generatePassword(32));
    for (const role of [UNMANAGED, 'postgres', ROTATOR.user, ADMIN.user, 'credential_rotation_admin', GROUP]) {
      const message = `role ${role} is not managed by the credential rotator`;
      await expect(rotator.query('SELECT credential_rotation.set_password($1, $2)', [role, verifier]), role).rejects.toMatchObject({ code: '42501', message });
      await expect(rotator.query('SELECT credential_rotation.set_login($1, true)', [role]), role).rejects.toMatchObject({ code: '42501', message });
      await expect(rotator.query('SELECT * FROM credential_rotation.retire_login($1, true)', [role]), role).rejects.toMatchObject({ code: '42501', message });
    }
    const beyond = [
      `INSERT INTO credential_rotation.managed_role VALUES ('${UNMANAGED}')`,
      `DELETE FROM credential_rotation.managed_role`,
      `SELECT credential_rotation.alter_role('ALTER ROLE ${UNMANAGED} NOLOGIN')`,
      `CREATE FUNCTION credential_rotation.set_password(role_name text) RETURNS void LANGUAGE sql AS 'SELECT'`,
    ];
    for (const statement of beyond) {
      await expect(rotator.query(statement), statement).rejects.toMatchObject({ code: '42501' });
    }
    const after = await superuser.query('SELECT rolname, rolpassword, rolcanlogin FROM pg_authid ORDER BY 1');
    expect(after.rows).toEqual(before.rows);
  });

  it('when the rotator hands set_password anything but a SCRAM-SHA-256 verifier, then it is refused without echoing it', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    const plaintext = generatePassword(32);
    const verifier = await scramSha256Verifier(plaintext);
    const md5 = `md5${'0'.repeat(32)}`;
    for (const candidate of [plaintext, md5, `${verifier}x`, verifier.replace('SCRAM-SHA-256$4096', 'SCRAM-SHA-256$0'), `${verifier}\n`]) {
      const error = await rotator.query('SELECT credential_rotation.set_password($1, $2)', [SINGLE, candidate]).then(() => undefined, (e: unknown) => e);
      expect(error, candidate).toMatchObject({ code: '22023', message: `the password of role ${SINGLE} must be given as a SCRAM-SHA-256 verifier` });
      expect(JSON.stringify(error)).not.toContain(candidate.slice(0, 20));
    }
  });

  it('when an administrator lists a role that holds CREATEROLE, then the functions still refuse it', async () => {
    await superuser.query(`CREATE ROLE listed_by_mistake LOGIN CREATEROLE`);
    await superuser.query(`INSERT INTO credential_rotation.managed_role VALUES ('listed_by_mistake')`);
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password);
    await expect(rotator.query('SELECT credential_rotation.set_login($1, true)', ['listed_by_mistake'])).rejects.toMatchObject({
      code: '42501',
      message: 'role listed_by_mistake holds SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS: the credential rotator never manages it',
    });
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
    const passwords = { [LOGIN_A]: generatePassword(32), [LOGIN_B]: generatePassword(32) };
    for (const [role, password] of Object.entries(passwords)) {
      await setPassword(rotator, role, password);
      await rotator.query('SELECT credential_rotation.set_login($1, true)', [role]);
    }
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

  it('when the rotator queries application data, then it has no access and cannot act as a managed role', async () => {
    const rotator = await connectAs(ROTATOR.user, ROTATOR.password, APP_DB);
    const owner = await pg.connect(APP_DB);
    clients.push(owner);
    await owner.query(`CREATE TABLE IF NOT EXISTS probe_${SINGLE} (id int)`);
    await owner.query(`GRANT SELECT ON probe_${SINGLE} TO ${SINGLE}`);
    await expect(rotator.query('SELECT count(*) FROM orders')).rejects.toMatchObject({ code: '42501' });
    await expect(rotator.query(`SELECT count(*) FROM probe_${SINGLE}`)).rejects.toMatchObject({ code: '42501' });
    await expect(rotator.query(`GRANT SELECT ON probe_${SINGLE} TO ${ROTATOR.user}`)).rejects.toMatchObject({ code: '42501' });
    for (const role of [SINGLE, LOGIN_A, GROUP, 'credential_rotation_admin']) {
      await expect(rotator.query(`SET ROLE ${role}`), role).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('when the bootstrap runs a second time, then it succeeds and changes nothing', async () => {
    const state = 'SELECT roleid, member, admin_option, (SELECT array_agg(role_name::text ORDER BY 1) FROM credential_rotation.managed_role) AS listed FROM pg_auth_members ORDER BY 1, 2';
    const before = await superuser.query(state);
    const admin = await connectAs(ADMIN.user, ADMIN.password);
    await runBootstrap(admin);
    const after = await superuser.query(state);
    expect(after.rows).toEqual(before.rows);
  });
});

describe('PostgreSQL bootstrap on Azure', () => {
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
