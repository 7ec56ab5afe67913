import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli';
import { renderPlan } from '../src/rotation/adoption';
import { sqlQuoting } from '../src/targets/postgres-admin';
import { startEmbeddedPostgres, type LocalPostgres } from '../src/local/embedded-postgres';
import { psql } from '../src/local/psql-script';
import { scramSha256Verifier } from '../src/rotation/password';

const SQL_DIR = join(__dirname, '..', 'infra', 'postgres');
const DB = 'appdb';
const EXISTING = { user: 'app_user', password: 'app-user-local-password-0001' };
const SECOND = { user: 'app_user_b', password: 'app-user-b-local-password-0001' };
const GROUP = 'app';
const ROTATOR = { user: 'credential_rotator', password: 'rotator-local-password-0001' };
const REF_OWNER = 'ref_owner';
const READER = 'reporting';
const AUDITOR = 'audit_reader';

let pg: LocalPostgres;
let superuser: Client;
let env: NodeJS.ProcessEnv;
/** A session of the application opened before adoption, as a connection pool would hold one. */
let early: Client;
/** What the existing role could do before adoption, by has_*_privilege. */
let capabilitiesBefore: string[];
const clients: Client[] = [];

function config(postgres: Record<string, unknown> = {}): string {
  return JSON.stringify({
    credentials: [
      {
        id: 'orders',
        strategy: 'alternating-users',
        postgres: {
          host: pg.host,
          port: pg.port,
          database: DB,
          ssl: 'disable',
          roles: [EXISTING.user, SECOND.user],
          group: GROUP,
          admin: { auth: 'password', user: ROTATOR.user, secret: 'pg-rotator-admin' },
          ...postgres,
        },
        keyVault: { url: 'https://127.0.0.1:8443', secret: 'orders-password' },
      },
    ],
  });
}

async function rotator(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, (l) => out.push(l), (l) => err.push(l), env);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  pg = await startEmbeddedPostgres();
  env = { PGUSER: pg.superuser, PGPASSWORD: pg.superuserPassword };
  superuser = await pg.connect();
  await createRolesAndDatabase();
  await createApplicationObjects();
  early = await connectAs(EXISTING.user, EXISTING.password);
  capabilitiesBefore = await capabilities(EXISTING.user);
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.end()));
  await superuser?.end();
  await pg?.stop();
});

describe('rotator adopt: an existing login role becomes the alternating-users shape', () => {
  it('when the configuration names a missing role or finish comes before adopt, then it refuses and changes nothing', async () => {
    const before = await catalogSnapshot();
    const missing = await rotator('adopt', 'orders', '--config', config({ roles: ['no_such_role', SECOND.user] }));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('role no_such_role does not exist: postgres.roles[0] must name the login role the application uses today');
    const early = await rotator('adopt', 'orders', '--finish', '--config', config());
    expect(early.code).toBe(1);
    expect(early.err).toContain(`role ${EXISTING.user} is not yet a member of ${GROUP}: run adopt first`);
    const noAdmin = await main(['adopt', 'orders', '--config', config()], () => undefined, () => undefined, {});
    expect(noAdmin).toBe(2);
    await superuser.query(`GRANT ${EXISTING.user} TO ${ROTATOR.user}`);
    const unmigrated = await rotator('adopt', 'orders', '--config', config());
    await superuser.query(`REVOKE ${EXISTING.user} FROM ${ROTATOR.user}`);
    expect(unmigrated.code).toBe(1);
    expect(unmigrated.err).toContain(`the rotator ${ROTATOR.user} still holds role memberships: run infra/postgres/30-migrate-from-createrole.sql first`);
    expect(await catalogSnapshot()).toEqual(before);
  });

  it('when run with --dry-run, then it prints the SQL, quoted by the driver, and changes nothing', async () => {
    const before = await catalogSnapshot();
    const dry = await rotator('adopt', 'orders', '--dry-run', '--config', config());
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`\\connect "${DB}"`);
    for (const statement of [
      `CREATE ROLE "${GROUP}" NOLOGIN;`,
      `CREATE ROLE "${SECOND.user}" NOLOGIN;`,
      `GRANT "${GROUP}" TO "${EXISTING.user}" WITH ADMIN FALSE, INHERIT TRUE, SET TRUE;`,
      `ALTER ROLE "${EXISTING.user}" SET role = "${GROUP}";`,
      `GRANT "${AUDITOR}" TO "${GROUP}" WITH ADMIN FALSE, INHERIT TRUE, SET TRUE;`,
      `GRANT SELECT ON TABLE "ref"."currencies" TO "${GROUP}";`,
      `GRANT UPDATE ("rate") ON TABLE "ref"."currencies" TO "${GROUP}";`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE "${GROUP}" IN SCHEMA "shop" GRANT SELECT ON TABLES TO "${READER}";`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE "${GROUP}" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE "${REF_OWNER}" IN SCHEMA "ref" GRANT SELECT ON TABLES TO "${GROUP}";`,
      `ALTER POLICY "app_reads" ON "ref"."currencies" TO "${EXISTING.user}", "${GROUP}";`,
      `REASSIGN OWNED BY "${EXISTING.user}" TO "${GROUP}";`,
      `GRANT "${SECOND.user}" TO "credential_rotation_admin" WITH ADMIN TRUE, INHERIT TRUE, SET FALSE;`,
      `\\connect "postgres"\nBEGIN;\nSET ROLE "credential_rotation_admin";\nINSERT INTO credential_rotation.managed_role (role_name) VALUES ('${SECOND.user}') ON CONFLICT DO NOTHING;\nRESET ROLE;\nCOMMIT;`,
    ]) {
      expect(dry.out, statement).toContain(statement);
    }
    expect(dry.out).not.toContain('DROP OWNED');
    expect(await catalogSnapshot()).toEqual(before);
  });

  it('when adopted, then the group owns every object the role owned and holds every privilege it held', async () => {
    const result = await rotator('adopt', 'orders', '--config', config());
    expect(result.code, result.err).toBe(0);
    expect(result.out).toContain(`Restart every application that logs in as ${EXISTING.user}, then run: rotator adopt orders --finish`);
    expect(await ownersIn('shop')).toEqual([GROUP]);
    expect(await ownersIn('ref')).toEqual([REF_OWNER]);
    const group = await capabilities(GROUP);
    expect(capabilitiesBefore.filter((c) => !group.includes(c))).toEqual([]);
  });

  it('when adopted, then a session opened before keeps working, and a new session of the existing login acts as the group', async () => {
    expect(await workload(early)).toEqual(EXPECTED_WORKLOAD);
    const fresh = await connectAs(EXISTING.user, EXISTING.password);
    expect(await currentUser(fresh)).toBe(GROUP);
    expect(await workload(fresh)).toEqual(EXPECTED_WORKLOAD);
  });

  it('when adopt runs again, then it has nothing to do and changes nothing', async () => {
    const before = await catalogSnapshot();
    const again = await rotator('adopt', 'orders', '--config', config());
    expect(again.code).toBe(0);
    expect(again.out).toContain(`orders: nothing to do, ${EXISTING.user} is already adopted into ${GROUP}`);
    expect(await catalogSnapshot()).toEqual(before);
  });

  it('when finished, then the existing login owns and holds nothing itself and the grants have the bootstrap shape', async () => {
    const result = await rotator('adopt', 'orders', '--finish', '--config', config());
    expect(result.code, result.err).toBe(0);
    expect(await dependenciesOf(EXISTING.user)).toEqual([`CONNECT on database ${DB}`]);
    expect(await memberships(EXISTING.user)).toEqual([{ role: GROUP, admin: false, inherit: false, set: true }]);
    expect(await memberships(SECOND.user)).toEqual([{ role: GROUP, admin: false, inherit: false, set: true }]);
    expect(await memberships(ROTATOR.user)).toEqual([]);
    expect(await memberships('credential_rotation_admin')).toEqual([
      { role: EXISTING.user, admin: true, inherit: true, set: false },
      { role: SECOND.user, admin: true, inherit: true, set: false },
    ]);
    expect((await superuser.query('SELECT role_name::text AS r FROM credential_rotation.managed_role ORDER BY 1')).rows.map((r) => r.r)).toEqual([EXISTING.user, SECOND.user]);
    const group = await capabilities(GROUP);
    expect(capabilitiesBefore.filter((c) => !group.includes(c))).toEqual([]);
    const fresh = await connectAs(EXISTING.user, EXISTING.password);
    expect(await workload(fresh)).toEqual(EXPECTED_WORKLOAD);
    // Why finish waits for the restart: a session still acting as the old role has nothing left.
    await expect(early.query('SELECT count(*) FROM shop.orders')).rejects.toMatchObject({ code: '42501' });
  });

  it('when finish runs again, then it has nothing to do; and the bootstrap script run afterwards changes nothing', async () => {
    const before = await catalogSnapshot();
    const again = await rotator('adopt', 'orders', '--finish', '--config', config());
    expect(again.code).toBe(0);
    expect(again.out).toContain('nothing to do');
    const vars = { rotator_role: ROTATOR.user, group_role: GROUP, login_a: EXISTING.user, login_b: SECOND.user };
    await superuser.query(psql(readFileSync(join(SQL_DIR, '21-alternating-users.sql'), 'utf8'), vars));
    expect(await catalogSnapshot()).toEqual(before);
  });

  it('when the rotator gives the second login a password, then a table either login creates is owned by the group, usable by the other, and the defaults apply', async () => {
    const rotatorSession = await connectAs(ROTATOR.user, ROTATOR.password, 'postgres');
    await expect(connectAs(SECOND.user, SECOND.password)).rejects.toMatchObject({ code: '28P01' });
    await rotatorSession.query('SELECT credential_rotation.set_password($1, $2)', [SECOND.user, await scramSha256Verifier(SECOND.password)]);
    await rotatorSession.query('SELECT credential_rotation.set_login($1, true)', [SECOND.user]);
    const a = await connectAs(EXISTING.user, EXISTING.password);
    const b = await connectAs(SECOND.user, SECOND.password);
    expect(await workload(b)).toEqual(EXPECTED_WORKLOAD);

    await b.query(`CREATE TABLE shop.invoices (id int PRIMARY KEY, total numeric)`);
    await a.query(`INSERT INTO shop.invoices VALUES (1, 9.5)`);
    await a.query(`CREATE TABLE shop.refunds (id int)`);
    await b.query(`INSERT INTO shop.refunds VALUES (7)`);
    await a.query(`CREATE FUNCTION shop.invoice_total() RETURNS numeric LANGUAGE sql AS 'SELECT sum(total) FROM shop.invoices'`);
    expect((await b.query('SELECT shop.invoice_total() AS t')).rows[0].t).toBe('9.5');
    expect(await ownersIn('shop')).toEqual([GROUP]);

    const [checks] = await inAppDb<{ reader_sees_new_table: boolean; public_executes_new_function: boolean }>(`
      SELECT has_table_privilege('${READER}', 'shop.invoices', 'SELECT') AS reader_sees_new_table,
             has_function_privilege('public', 'shop.invoice_total()', 'EXECUTE') AS public_executes_new_function`);
    expect(checks).toEqual({ reader_sees_new_table: true, public_executes_new_function: false });

    const owner = await pg.connect(DB);
    clients.push(owner);
    await owner.query(`SET ROLE ${REF_OWNER}; CREATE TABLE ref.regions (code text); INSERT INTO ref.regions VALUES ('eu'); RESET ROLE`);
    expect((await b.query('SELECT code FROM ref.regions')).rows).toEqual([{ code: 'eu' }]);
  });

  it('when the rotator reaches for the data after adoption, then it has none: it neither inherits nor assumes the group', async () => {
    const rotatorSession = await connectAs(ROTATOR.user, ROTATOR.password);
    await expect(rotatorSession.query('SELECT count(*) FROM shop.orders')).rejects.toMatchObject({ code: '42501' });
    await expect(rotatorSession.query('SELECT count(*) FROM ref.currencies')).rejects.toMatchObject({ code: '42501' });
    for (const role of [GROUP, EXISTING.user, SECOND.user]) {
      await expect(rotatorSession.query(`SET ROLE ${role}`), role).rejects.toMatchObject({ code: '42501' });
    }
    expect((await rotatorSession.query<{ ok: boolean }>(`SELECT pg_has_role('${GROUP}', 'USAGE') AS ok`)).rows[0].ok).toBe(false);
  });
});

describe('rotator adopt --dry-run prints a script no name can break out of', () => {
  const EVIL_DB = 'shadow\n\\! echo injected-by-a-database-name';

  it('when a database the role owns something in has a newline in its name, then adopt refuses naming it, and prints no meta-command', async () => {
    await superuser.query(`CREATE DATABASE ${superuser.escapeIdentifier(EVIL_DB)}`);
    const evil = await pg.connect(EVIL_DB);
    try {
      await evil.query(`CREATE TABLE kept (id int); ALTER TABLE kept OWNER TO ${EXISTING.user}`);
    } finally {
      await evil.end();
    }
    try {
      const before = await catalogSnapshot();
      const dry = await rotator('adopt', 'orders', '--finish', '--dry-run', '--config', config());
      expect(dry.code).toBe(1);
      expect(dry.err).toContain(`the name ${JSON.stringify(EVIL_DB)} holds a control character: rename it before adopting`);
      expect(dry.out.split('\n').filter((line) => line.startsWith('\\') && !line.startsWith('\\connect'))).toEqual([]);
      expect(await catalogSnapshot()).toEqual(before);
    } finally {
      await superuser.query(`DROP DATABASE ${superuser.escapeIdentifier(EVIL_DB)}`);
    }
  });

  it('when a note spans lines, then every line of it is a comment', () => {
    const lines = renderPlan({ phase: 'adopt', transactions: [], notes: ['first\n\\! echo second\rthird'] }, sqlQuoting);
    expect(lines).toEqual(['-- note: first', '--    \\! echo second', '--    third']);
  });
});

describe('rotator adopt as an administrator that is not a superuser, as the Entra administrator on Azure is not', () => {
  const ADMIN = { user: 'entra_admin', password: 'entra-admin-local-password-0001' };
  const BILLING = { user: 'billing_user', password: 'billing-user-local-password-0001' };
  const BILLING_DB = 'billingdb';
  const BILLING_GROUP = 'billing';
  const LEDGER_OWNER = 'ledger_owner';
  const billingConfig = () => config({ database: BILLING_DB, roles: [BILLING.user, 'billing_user_b'], group: BILLING_GROUP });
  const asAdmin = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main([...args, '--config', billingConfig()], (l) => out.push(l), (l) => err.push(l), { PGUSER: ADMIN.user, PGPASSWORD: ADMIN.password });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    await superuser.query(`CREATE ROLE ${ADMIN.user} LOGIN CREATEROLE CREATEDB PASSWORD '${ADMIN.password}'`);
    // The administrator that ran 10-rotator.sql may act as the functions' owner; here the superuser ran it.
    await superuser.query(`GRANT credential_rotation_admin TO ${ADMIN.user} WITH INHERIT FALSE, SET TRUE`);
    const admin = await connectAs(ADMIN.user, ADMIN.password, 'postgres');
    await admin.query(`CREATE ROLE ${BILLING.user} LOGIN PASSWORD '${BILLING.password}'`);
    await admin.query(`CREATE ROLE ${LEDGER_OWNER} NOLOGIN`);
    await admin.query(psql(readFileSync(join(SQL_DIR, '20-single-user.sql'), 'utf8'), { managed_role: BILLING.user }));
    await admin.query(`CREATE DATABASE ${BILLING_DB}`);
    await admin.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${BILLING_DB} FROM PUBLIC`);
    await admin.query(`GRANT CONNECT, CREATE ON DATABASE ${BILLING_DB} TO ${BILLING.user}`);
    // The administrator may read the ledger, but not grant it on: GRANT only warns then.
    const owner = await pg.connect(BILLING_DB);
    clients.push(owner);
    await owner.query(`
      CREATE SCHEMA ledger AUTHORIZATION ${LEDGER_OWNER};
      SET ROLE ${LEDGER_OWNER};
      CREATE TABLE ledger.entries (amount numeric);
      INSERT INTO ledger.entries VALUES (12.5);
      GRANT USAGE ON SCHEMA ledger TO ${BILLING.user}, ${ADMIN.user};
      GRANT SELECT ON ledger.entries TO ${BILLING.user}, ${ADMIN.user};
      RESET ROLE;`);
    const app = await connectAs(BILLING.user, BILLING.password, BILLING_DB);
    await app.query(`CREATE SCHEMA invoicing; CREATE TABLE invoicing.invoices (id int, amount numeric)`);
  });

  it('when it may not pass on a privilege the role holds, then the run stops, rolled back, naming the statement, instead of losing the grant', async () => {
    const result = await asAdmin('adopt', 'orders');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/in database billingdb \(rolled back\), statement \d+ of \d+ \(GRANT [A-Z]+ ON [A-Z]+ "ledger"[^)]*\) was refused: PostgreSQL 01007: no privileges were granted/);
    expect((await superuser.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [BILLING_GROUP])).rowCount).toBe(0);
  });

  it('when it holds the privileges of the owner, then adopt and finish succeed, borrowing the logins\' privileges only for each transaction', async () => {
    const admin = await connectAs(ADMIN.user, ADMIN.password, 'postgres');
    await admin.query(`GRANT ${LEDGER_OWNER} TO ${ADMIN.user} WITH INHERIT TRUE`);
    const dry = await asAdmin('adopt', 'orders', '--dry-run');
    expect(dry.out).toContain(`GRANT "${BILLING.user}" TO CURRENT_USER WITH INHERIT TRUE, SET TRUE;`);
    expect(dry.out).toContain(`REVOKE "${BILLING_GROUP}" FROM CURRENT_USER;`);
    for (const args of [['adopt', 'orders'], ['adopt', 'orders', '--finish']]) {
      const result = await asAdmin(...args);
      expect(result.code, result.err).toBe(0);
    }
    expect((await asAdmin('adopt', 'orders', '--finish')).out).toContain('nothing to do');
    expect(await dependenciesOf(BILLING.user)).toEqual([`CONNECT on database ${BILLING_DB}`]);
    const app = await connectAs(BILLING.user, BILLING.password, BILLING_DB);
    await app.query(`INSERT INTO invoicing.invoices SELECT 1, amount FROM ledger.entries`);
    expect((await app.query('SELECT current_user AS u, (SELECT count(*) FROM invoicing.invoices)::int AS n')).rows[0]).toEqual({ u: BILLING_GROUP, n: 1 });
    const borrowedAndKept = (await memberships(ADMIN.user)).filter((m) => [BILLING.user, BILLING_GROUP].includes(m.role) && (m.inherit || m.set));
    expect(borrowedAndKept).toEqual([]);
  });
});

// ---- the application's world before adoption -----------------------------------------------------

async function createRolesAndDatabase(): Promise<void> {
  await superuser.query(`CREATE ROLE ${EXISTING.user} LOGIN PASSWORD '${EXISTING.password}'`);
  await superuser.query(`CREATE ROLE ${ROTATOR.user} LOGIN PASSWORD '${ROTATOR.password}'`);
  for (const role of [REF_OWNER, READER, AUDITOR]) await superuser.query(`CREATE ROLE ${role} NOLOGIN`);
  const vars = { rotator_role: ROTATOR.user, managed_role: EXISTING.user };
  for (const file of ['10-rotator.sql', '20-single-user.sql']) await superuser.query(psql(readFileSync(join(SQL_DIR, file), 'utf8'), vars));
  // A hardened database: nobody connects through PUBLIC, so the logins need CONNECT of their own.
  await superuser.query(`CREATE DATABASE ${DB}`);
  await superuser.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${DB} FROM PUBLIC`);
  await superuser.query(`GRANT CONNECT, CREATE ON DATABASE ${DB} TO ${EXISTING.user}`);
  await superuser.query(`GRANT CONNECT ON DATABASE ${DB} TO ${ROTATOR.user}`);
  await superuser.query(`GRANT ${AUDITOR} TO ${EXISTING.user}`);
}

async function createApplicationObjects(): Promise<void> {
  const admin = await pg.connect(DB);
  clients.push(admin);
  await admin.query(`
    CREATE SCHEMA ref AUTHORIZATION ${REF_OWNER};
    SET ROLE ${REF_OWNER};
    CREATE TABLE ref.currencies (code text PRIMARY KEY, rate numeric);
    INSERT INTO ref.currencies VALUES ('EUR', 1), ('XXX', 0);
    CREATE TABLE ref.audit (what text);
    INSERT INTO ref.audit VALUES ('created');
    GRANT USAGE ON SCHEMA ref TO ${EXISTING.user};
    GRANT SELECT ON ref.currencies TO ${EXISTING.user};
    GRANT UPDATE (rate) ON ref.currencies TO ${EXISTING.user};
    GRANT USAGE ON SCHEMA ref TO ${AUDITOR};
    GRANT SELECT ON ref.audit TO ${AUDITOR};
    ALTER TABLE ref.currencies ENABLE ROW LEVEL SECURITY;
    CREATE POLICY app_reads ON ref.currencies TO ${EXISTING.user} USING (code <> 'XXX');
    ALTER DEFAULT PRIVILEGES IN SCHEMA ref GRANT SELECT ON TABLES TO ${EXISTING.user};
    RESET ROLE;`);
  const app = await connectAs(EXISTING.user, EXISTING.password);
  await app.query(`
    CREATE SCHEMA shop;
    ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
    ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT ON TABLES TO ${READER};
    CREATE TABLE shop.orders (id serial PRIMARY KEY, note text);
    CREATE SEQUENCE shop.invoice_no;
    CREATE VIEW shop.open_orders AS SELECT id, note FROM shop.orders;
    CREATE FUNCTION shop.order_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM shop.orders';
    CREATE TYPE shop.status AS ENUM ('open', 'closed');
    GRANT USAGE ON SCHEMA shop TO ${READER};`);
  expect(await workload(app)).toEqual(EXPECTED_WORKLOAD);
}

const EXPECTED_WORKLOAD = { inserted: true, sequence: true, view: true, counted: true, type: 'open', visibleCurrencies: 1, updatedRates: 1, audit: 1, createdTable: true };

/** Everything the application does: write and read its tables, use the others' it was granted. */
async function workload(client: Client) {
  const one = async (sql: string) => Object.values((await client.query(sql)).rows[0] ?? {})[0];
  const table = `scratch_${Math.random().toString(36).slice(2, 8)}`;
  return {
    inserted: Number(await one(`INSERT INTO shop.orders (note) VALUES ('from the app') RETURNING id`)) > 0,
    sequence: Number(await one(`SELECT nextval('shop.invoice_no')`)) > 0,
    view: Number(await one('SELECT count(*) FROM shop.open_orders')) > 0,
    counted: Number(await one('SELECT shop.order_count()')) > 0,
    type: await one(`SELECT 'open'::shop.status::text`),
    visibleCurrencies: Number(await one('SELECT count(*) FROM ref.currencies')),
    updatedRates: (await client.query(`UPDATE ref.currencies SET rate = rate WHERE code = 'EUR'`)).rowCount,
    audit: Number(await one('SELECT count(*) FROM ref.audit')),
    createdTable: (await client.query(`CREATE TABLE shop.${table} (id int); DROP TABLE shop.${table}`)) !== undefined,
  };
}

// ---- observations, as the superuser --------------------------------------------------------------

async function connectAs(user: string, password: string, database = DB): Promise<Client> {
  const client = new Client({ host: pg.host, port: pg.port, user, password, database });
  client.on('error', () => undefined);
  await client.connect();
  clients.push(client);
  return client;
}

async function currentUser(client: Client): Promise<string> {
  return (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0].u;
}

async function inAppDb<T extends object>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = await pg.connect(DB);
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Distinct owners of the schema and of every relation, routine and type in it. */
async function ownersIn(schema: string): Promise<string[]> {
  const rows = await inAppDb<{ owner: string }>(
    `SELECT DISTINCT owner FROM (
       SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = $1
       UNION ALL SELECT relowner::regrole::text FROM pg_class WHERE relnamespace = $1::regnamespace
       UNION ALL SELECT proowner::regrole::text FROM pg_proc WHERE pronamespace = $1::regnamespace
       UNION ALL SELECT typowner::regrole::text FROM pg_type WHERE typnamespace = $1::regnamespace) o ORDER BY 1`,
    [schema],
  );
  return rows.map((r) => r.owner);
}

/** What a role may do on the application's objects, as PostgreSQL answers has_*_privilege. */
async function capabilities(role: string): Promise<string[]> {
  const rows = await inAppDb<{ c: string }>(
    `SELECT c FROM (
       SELECT 'relation ' || c.oid::regclass || ' ' || p AS c FROM pg_class c, unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) p
        WHERE c.relnamespace IN ('shop'::regnamespace, 'ref'::regnamespace) AND c.relkind IN ('r', 'v', 'p') AND has_table_privilege($1, c.oid, p)
       UNION ALL
       SELECT 'sequence ' || c.oid::regclass || ' ' || p FROM pg_class c, unnest(ARRAY['USAGE','SELECT','UPDATE']) p
        WHERE c.relnamespace = 'shop'::regnamespace AND c.relkind = 'S' AND has_sequence_privilege($1, c.oid, p)
       UNION ALL
       SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' ' || p FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid, unnest(ARRAY['SELECT','INSERT','UPDATE']) p
        WHERE c.relnamespace IN ('shop'::regnamespace, 'ref'::regnamespace) AND c.relkind = 'r' AND a.attnum > 0 AND has_column_privilege($1, c.oid, a.attnum, p)
       UNION ALL
       SELECT 'schema ' || n.nspname || ' ' || p FROM pg_namespace n, unnest(ARRAY['USAGE','CREATE']) p WHERE n.nspname IN ('shop', 'ref') AND has_schema_privilege($1, n.oid, p)
       UNION ALL
       SELECT 'function ' || f.oid::regprocedure FROM pg_proc f WHERE f.pronamespace = 'shop'::regnamespace AND has_function_privilege($1, f.oid, 'EXECUTE')
       UNION ALL
       SELECT 'type ' || t.oid::regtype FROM pg_type t WHERE t.typnamespace = 'shop'::regnamespace AND has_type_privilege($1, t.oid, 'USAGE')
       UNION ALL
       SELECT 'database ' || p FROM unnest(ARRAY['CONNECT','CREATE','TEMPORARY']) p WHERE has_database_privilege($1, current_database(), p)) x
     ORDER BY 1`,
    [role],
  );
  expect(rows.length).toBeGreaterThan(0);
  return rows.map((r) => r.c);
}

/** Everything in any database that depends on the role: ownerships, grants, policies, default privileges. */
async function dependenciesOf(role: string): Promise<string[]> {
  const { rows } = await superuser.query<{ d: string }>(
    `SELECT CASE WHEN s.classid = 'pg_database'::regclass THEN p.privilege_type || ' on database ' || d.datname
                 ELSE s.classid::regclass::text || ' ' || s.deptype::text END AS d
       FROM pg_shdepend s LEFT JOIN pg_database d ON s.classid = 'pg_database'::regclass AND d.oid = s.objid
       LEFT JOIN LATERAL aclexplode(d.datacl) p ON p.grantee = s.refobjid
      WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = $1::regrole ORDER BY 1`,
    [role],
  );
  return rows.map((r) => r.d);
}

async function memberships(member: string) {
  const { rows } = await superuser.query(
    `SELECT roleid::regrole::text AS role, admin_option AS admin, inherit_option AS inherit, set_option AS set
       FROM pg_auth_members WHERE member = $1::regrole ORDER BY 1`,
    [member],
  );
  return rows;
}

/** Owners, ACLs, memberships, settings, defaults and policies: what adoption may change. */
async function catalogSnapshot(): Promise<unknown> {
  const shared = await superuser.query(`
    SELECT (SELECT json_agg(json_build_array(roleid::regrole::text, member::regrole::text, grantor::regrole::text, admin_option, inherit_option, set_option) ORDER BY 1, 2, 3) FROM pg_auth_members) AS members,
           (SELECT json_agg(json_build_array(rolname, rolcanlogin) ORDER BY rolname) FROM pg_roles WHERE rolname !~ '^pg_') AS roles,
           (SELECT json_agg(json_build_array(setrole::regrole::text, setdatabase, setconfig) ORDER BY 1, 2) FROM pg_db_role_setting) AS settings,
           (SELECT json_agg(json_build_array(datname, datdba::regrole::text, datacl::text) ORDER BY datname) FROM pg_database) AS databases`);
  const local = await inAppDb(`
    SELECT (SELECT json_agg(json_build_array(oid::regclass::text, relowner::regrole::text, relacl::text) ORDER BY oid) FROM pg_class WHERE relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname IN ('shop', 'ref'))) AS classes,
           (SELECT json_agg(json_build_array(nspname, nspowner::regrole::text, nspacl::text) ORDER BY nspname) FROM pg_namespace) AS schemas,
           (SELECT json_agg(json_build_array(oid::regprocedure::text, proowner::regrole::text, proacl::text) ORDER BY oid) FROM pg_proc WHERE pronamespace = 'shop'::regnamespace) AS routines,
           (SELECT json_agg(json_build_array(attrelid::regclass::text, attname, attacl::text) ORDER BY 1, 2) FROM pg_attribute WHERE attacl IS NOT NULL) AS columns,
           (SELECT json_agg(json_build_array(defaclrole::regrole::text, defaclnamespace, defaclobjtype, defaclacl::text) ORDER BY 1, 2, 3) FROM pg_default_acl) AS defaults,
           (SELECT json_agg(json_build_array(polname, polroles::regrole[]::text) ORDER BY polname) FROM pg_policy) AS policies`);
  return { shared: shared.rows[0], local: local[0] };
}
