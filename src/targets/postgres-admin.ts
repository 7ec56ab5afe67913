import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import { RotationError } from '../errors';
import { ADMIN_DATABASE, classifyPostgresError, ROTATION_ADMIN_ROLE, withSession, type AdminLogin, type PostgresEndpoint } from './postgres';

/**
 * PostgreSQL as an administrator sees it, for the one-off adoption of an existing role into
 * the alternating-users shape: catalog reads, and statements run one transaction per
 * database. The rotator never uses this; an operator does, as a superuser (or, on Azure, an
 * administrator that holds the privileges of the roles involved).
 */

export interface AdoptionRoles {
  /** The login the application uses today (`postgres.roles[0]`). */
  existing: string;
  /** The login created for the alternation (`postgres.roles[1]`). */
  second: string;
  group: string;
  /** The rotator's own role (`postgres.admin.user`). */
  rotator: string;
}

export interface RoleState {
  exists: boolean;
  canLogin: boolean;
  superuser: boolean;
  /** Attributes beyond LOGIN (CREATEDB, ...): they are checked against the current role, so they do not follow a SET ROLE. */
  attributes: string[];
  /** The role's `role` setting (ALTER ROLE ... SET role) for every database. */
  roleSetting?: string;
}

export interface MembershipRow {
  role: string;
  member: string;
  grantor: string;
  admin: boolean;
  inherit: boolean;
  set: boolean;
}

export type PrivilegeKind = 'table' | 'sequence' | 'column' | 'schema' | 'routine' | 'type' | 'domain' | 'foreign data wrapper' | 'foreign server' | 'language' | 'database';

/** A privilege the existing role holds on an object it does not own. */
export interface HeldPrivilege {
  kind: PrivilegeKind;
  schema: string | null;
  name: string;
  /** Routines: the argument list as the server formats it. */
  signature: string | null;
  column: string | null;
  privilege: string;
  grantable: boolean;
  heldByGroup: boolean;
}

/**
 * An entry of default privileges that concerns the existing role: in its own defaults
 * (`owner` null), or granting to it in another role's. `revoke` entries are hard-wired
 * defaults the role took away in its global defaults (e.g. EXECUTE on functions from PUBLIC).
 */
export interface DefaultPrivilegeChange {
  owner: string | null;
  schema: string | null;
  /** pg_default_acl.defaclobjtype: r, S, f, T, n. */
  objectType: string;
  /** `null` is PUBLIC. */
  grantee: string | null;
  privilege: string;
  grantable: boolean;
  action: 'grant' | 'revoke';
  /** The group's defaults already say the same. */
  done: boolean;
}

export interface PolicyFact {
  schema: string;
  table: string;
  name: string;
  /** `null` is PUBLIC. */
  roles: Array<string | null>;
}

export interface DatabaseFacts {
  name: string;
  /** Objects here (and, in the main database, databases and tablespaces) the existing role owns. */
  ownedObjects: number;
  privileges: HeldPrivilege[];
  defaults: DefaultPrivilegeChange[];
  policies: PolicyFact[];
  /** Catalogs holding privileges of the existing role that adoption cannot move. */
  unsupported: string[];
  schemaNamedAfterRole: boolean;
}

/** A database the existing role reaches other than through PUBLIC: both logins need CONNECT there. */
export interface ConnectFact {
  database: string;
  /** Roles with their own CONNECT entry in the database's ACL (the owner's entry aside). */
  explicit: string[];
}

/** Who runs the adoption. */
export interface AdministratorState {
  name: string;
  superuser: boolean;
  /** Of the existing role and the group, those whose privileges it has already. */
  hasPrivilegesOf: string[];
}

/** The owner of the password functions and its allow-list (infra/postgres/10-rotator.sql). */
export interface RotationAdminState {
  /** The schema and the allow-list exist. */
  installed: boolean;
  /** The administrator may SET ROLE to the owner, to change the allow-list. */
  actsAsIt: boolean;
  /** Of the two logins, those on the allow-list. */
  listed: string[];
}

export interface AdoptionFacts {
  mainDatabase: string;
  administrator: AdministratorState;
  roles: Record<keyof AdoptionRoles, RoleState>;
  /** Memberships of the two logins and the group, the functions' owner's in them, and every membership of the rotator. */
  memberships: MembershipRow[];
  rotationAdmin: RotationAdminState;
  databasePrivileges: HeldPrivilege[];
  connect: ConnectFact[];
  secondOwnsObjects: boolean;
  /** The main database first, then every other one where the existing role owns or holds something. */
  databases: DatabaseFacts[];
  /** Databases that take no connections yet hold objects or grants of the existing role. */
  unconnectable: string[];
}

export interface PlannedTransaction {
  database: string;
  statements: string[];
}

/** The driver's quoting: every identifier and literal in adoption SQL goes through it. */
export const sqlQuoting = { identifier: escapeIdentifier, literal: escapeLiteral };

const STAGE = 'adopt';

export class PostgresAdministrator {
  constructor(
    private readonly endpoint: PostgresEndpoint,
    private readonly login: AdminLogin,
  ) {}

  /** Reads, never writes: the same facts drive the dry run and the real run. */
  async readAdoptionFacts(roles: AdoptionRoles): Promise<AdoptionFacts> {
    const main = this.endpoint.database;
    const shared = await this.session(main, 'reading roles and memberships', (client) => readShared(client, main, roles));
    const rotationAdmin = await this.session(ADMIN_DATABASE, 'reading the allow-list of the password functions', (client) => readRotationAdmin(client, [roles.existing, roles.second]));
    const databases: DatabaseFacts[] = [];
    const oids = shared.oids;
    if (oids === null) return { ...shared.facts, rotationAdmin, mainDatabase: main, databases };
    for (const name of [main, ...shared.otherDatabases]) {
      databases.push(await this.session(name, `reading the catalog of database ${name}`, (client) => readDatabase(client, name, roles.existing, oids, name === main)));
    }
    return { ...shared.facts, rotationAdmin, mainDatabase: main, databases };
  }

  /** Each transaction commits or rolls back as a whole; the first failure stops the run. */
  async execute(transactions: PlannedTransaction[], onCommitted: (t: PlannedTransaction) => void = () => undefined): Promise<void> {
    for (const t of transactions) {
      await this.session(t.database, `adopting in database ${t.database}`, (client) => runTransaction(client, t));
      onCommitted(t);
    }
  }

  private session<T>(database: string, what: string, work: (client: Client) => Promise<T>): Promise<T> {
    return withSession(this.endpoint, { database, user: this.login.user, password: this.login.password, applicationName: 'credential-rotator-adopt' }, STAGE, what, work);
  }
}

// A GRANT or REVOKE the administrator may not make only warns; a grant silently not copied
// would be lost at DROP OWNED, so the warning fails the transaction.
const NOT_GRANTED = new Set(['01007', '01006']);

async function runTransaction(client: Client, t: PlannedTransaction): Promise<void> {
  let warning: { code?: string; message?: string } | undefined;
  client.on('notice', (notice) => {
    if (NOT_GRANTED.has(notice.code ?? '')) warning = notice;
  });
  await client.query('BEGIN');
  for (const [i, statement] of t.statements.entries()) {
    // Adoption SQL holds names only, never a secret: the statement helps the operator.
    const what = `in database ${t.database} (rolled back), statement ${i + 1} of ${t.statements.length} (${statement})`;
    try {
      await client.query(statement);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw classifyPostgresError(STAGE, what, error);
    }
    if (warning) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new RotationError({ code: 'permission-denied', stage: STAGE, message: `${what} was refused: PostgreSQL ${warning.code}: ${warning.message}` });
    }
  }
  await client.query('COMMIT');
}

// ---- the shared catalogs, read in the main database ------------------------------------------

interface RoleOids {
  existing: string;
  group: string | null;
  second: string | null;
}

interface SharedFacts {
  facts: Omit<AdoptionFacts, 'mainDatabase' | 'databases' | 'rotationAdmin'>;
  /** Null when the existing role does not exist: there is nothing more to read. */
  oids: RoleOids | null;
  otherDatabases: string[];
}

async function readShared(client: Client, main: string, roles: AdoptionRoles): Promise<SharedFacts> {
  const states = await readRoles(client, roles);
  const administrator = (await client.query<AdministratorState>(ADMINISTRATOR, [[roles.existing, roles.group]])).rows[0];
  const existingOid = states.oids.existing;
  if (existingOid === null) {
    return { facts: { administrator, roles: states.roles, memberships: [], databasePrivileges: [], connect: [], secondOwnsObjects: false, unconnectable: [] }, oids: null, otherDatabases: [] };
  }
  const oids = { existing: existingOid, group: states.oids.group, second: states.oids.second };
  const databases = await client.query<{ name: string; allows: boolean }>(DATABASES_WITH_DEPENDENCIES, [existingOid]);
  return {
    facts: {
      administrator,
      roles: states.roles,
      memberships: (await client.query<MembershipRow>(MEMBERSHIPS, [[roles.existing, roles.second, roles.group], ROTATION_ADMIN_ROLE, roles.rotator])).rows,
      databasePrivileges: (await client.query<HeldPrivilege>(DATABASE_PRIVILEGES, [existingOid, oids.group])).rows,
      connect: (await client.query<ConnectFact>(CONNECT_NEEDED, [existingOid])).rows,
      secondOwnsObjects: oids.second !== null && (await client.query<{ owns: boolean }>(OWNS_ANYTHING, [oids.second])).rows[0].owns,
      unconnectable: databases.rows.filter((d) => !d.allows).map((d) => d.name),
    },
    oids,
    otherDatabases: databases.rows.filter((d) => d.allows && d.name !== main).map((d) => d.name),
  };
}

async function readRoles(client: Client, roles: AdoptionRoles): Promise<{ roles: Record<keyof AdoptionRoles, RoleState>; oids: Record<'existing' | 'group' | 'second', string | null> }> {
  const { rows } = await client.query<RoleState & { name: string; oid: string }>(ROLES, [Object.values(roles)]);
  const state = (name: string): RoleState => {
    const row = rows.find((r) => r.name === name);
    return row ? { exists: true, canLogin: row.canLogin, superuser: row.superuser, attributes: row.attributes, roleSetting: row.roleSetting ?? undefined } : { exists: false, canLogin: false, superuser: false, attributes: [] };
  };
  const oid = (name: string) => rows.find((r) => r.name === name)?.oid ?? null;
  return {
    roles: { existing: state(roles.existing), second: state(roles.second), group: state(roles.group), rotator: state(roles.rotator) },
    oids: { existing: oid(roles.existing), group: oid(roles.group), second: oid(roles.second) },
  };
}

/** The allow-list is readable by its owner only: the administrator reads it as the owner. */
async function readRotationAdmin(client: Client, logins: string[]): Promise<RotationAdminState> {
  const { rows } = await client.query<{ installed: boolean; actsAsIt: boolean }>(ROTATION_ADMIN, [ROTATION_ADMIN_ROLE]);
  const { installed, actsAsIt } = rows[0];
  if (!installed || !actsAsIt) return { installed, actsAsIt, listed: [] };
  await client.query(`SET ROLE ${escapeIdentifier(ROTATION_ADMIN_ROLE)}`);
  const listed = await client.query<{ role: string }>('SELECT role_name::text AS role FROM credential_rotation.managed_role WHERE role_name = ANY($1::text[]) ORDER BY 1', [logins]);
  await client.query('RESET ROLE');
  return { installed, actsAsIt, listed: listed.rows.map((r) => r.role) };
}

// ---- one database ------------------------------------------------------------------------------

async function readDatabase(client: Client, name: string, existing: string, oids: RoleOids, main: boolean): Promise<DatabaseFacts> {
  const owned = await client.query<{ n: number }>(OWNED_OBJECTS, [oids.existing, main]);
  const additions = await client.query<DefaultPrivilegeChange>(DEFAULT_PRIVILEGE_GRANTS, [oids.existing, oids.group]);
  const revocations = await client.query<DefaultPrivilegeChange>(DEFAULT_PRIVILEGE_REVOCATIONS, [oids.existing, oids.group]);
  return {
    name,
    ownedObjects: owned.rows[0].n,
    privileges: (await client.query<HeldPrivilege>(OBJECT_PRIVILEGES, [oids.existing, oids.group])).rows,
    defaults: [...additions.rows, ...revocations.rows],
    policies: (await client.query<PolicyFact>(POLICIES, [oids.existing])).rows,
    unsupported: (await client.query<{ catalog: string }>(UNSUPPORTED_PRIVILEGES, [oids.existing])).rows.map((r) => r.catalog),
    schemaNamedAfterRole: (await client.query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1) AS found', [existing])).rows[0].found,
  };
}

// ---- catalog queries: $1 is the existing role's oid, $2 the group's (NULL before it exists) -------
// Role names are cast to text: pg returns name[] unparsed.

const ROLES = `
SELECT r.rolname AS name, r.oid::text AS oid, r.rolcanlogin AS "canLogin", r.rolsuper AS superuser,
       array_remove(ARRAY[CASE WHEN r.rolcreatedb THEN 'CREATEDB' END, CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
                          CASE WHEN r.rolreplication THEN 'REPLICATION' END, CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL) AS attributes,
       (SELECT substr(c, 6) FROM pg_catalog.pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) c
         WHERE s.setrole = r.oid AND s.setdatabase = 0 AND c LIKE 'role=%') AS "roleSetting"
  FROM pg_catalog.pg_roles r WHERE r.rolname = ANY($1::text[])`;

const ADMINISTRATOR = `
SELECT current_user AS name, (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS superuser,
       ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_roles r WHERE r.rolname = ANY($1::text[]) AND pg_has_role(current_user, r.oid, 'USAGE')) AS "hasPrivilegesOf"`;

const MEMBERSHIPS = `
SELECT g.rolname AS role, m.rolname AS member, gr.rolname AS grantor, a.admin_option AS admin, a.inherit_option AS inherit, a.set_option AS set
  FROM pg_catalog.pg_auth_members a
  JOIN pg_catalog.pg_roles g ON g.oid = a.roleid JOIN pg_catalog.pg_roles m ON m.oid = a.member JOIN pg_catalog.pg_roles gr ON gr.oid = a.grantor
 WHERE m.rolname = ANY($1::text[]) OR (m.rolname = $2 AND g.rolname = ANY($1::text[])) OR m.rolname = $3
 ORDER BY 1, 2, 3`;

const ROTATION_ADMIN = `
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'credential_rotation' AND c.relname = 'managed_role') AS installed,
       EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = $1
                  AND ((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) OR pg_has_role(current_user, r.oid, 'SET'))) AS "actsAsIt"`;

const DATABASES_WITH_DEPENDENCIES = `
SELECT d.datname AS name, d.datallowconn AS allows FROM pg_catalog.pg_database d
 WHERE d.oid IN (SELECT s.dbid FROM pg_catalog.pg_shdepend s WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND s.refobjid = $1::oid)
 ORDER BY 1`;

const HELD_BY_GROUP = `EXISTS (SELECT 1 FROM aclexplode(acl) q WHERE q.grantee = $2::oid AND q.privilege_type = p.privilege_type AND (q.is_grantable OR NOT p.is_grantable))`;

const DATABASE_PRIVILEGES = `
SELECT 'database' AS kind, NULL AS schema, name, NULL AS signature, NULL AS "column", p.privilege_type AS privilege, p.is_grantable AS grantable, ${HELD_BY_GROUP} AS "heldByGroup"
  FROM (SELECT d.datname AS name, d.datacl AS acl, d.datdba AS owner FROM pg_catalog.pg_database d) o
 CROSS JOIN LATERAL aclexplode(o.acl) p
 WHERE p.grantee = $1::oid AND o.owner <> $1::oid
 ORDER BY name, privilege`;

const CONNECT_NEEDED = `
SELECT d.datname AS database,
       ARRAY(SELECT pg_catalog.pg_get_userbyid(x.grantee)::text FROM aclexplode(d.datacl) x
              WHERE x.privilege_type = 'CONNECT' AND x.grantee NOT IN (0, d.datdba)) AS explicit
  FROM pg_catalog.pg_database d
 WHERE d.datallowconn AND NOT d.datistemplate AND has_database_privilege($1::oid, d.oid, 'CONNECT')
   AND NOT EXISTS (SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) x WHERE x.grantee = 0 AND x.privilege_type = 'CONNECT')
 ORDER BY 1`;

const OWNS_ANYTHING = `
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend WHERE refclassid = 'pg_catalog.pg_authid'::regclass AND refobjid = $1::oid AND deptype = 'o') AS owns`;

const THIS_DATABASE = `(SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())`;

// REASSIGN OWNED leaves default privileges alone; they are moved explicitly.
const OWNED_OBJECTS = `
SELECT count(*)::int AS n FROM pg_catalog.pg_shdepend s
 WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND s.refobjid = $1::oid AND s.deptype = 'o'
   AND s.classid <> 'pg_catalog.pg_default_acl'::regclass
   AND (s.dbid = ${THIS_DATABASE} OR (s.dbid = 0 AND $2::boolean))`;

const OBJECT_PRIVILEGES = `
WITH objects AS (
  SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END AS kind, n.nspname AS schema, c.relname AS name, NULL AS signature, NULL AS "column", c.relacl AS acl, c.relowner AS owner
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relacl IS NOT NULL
  UNION ALL
  SELECT 'column', n.nspname, c.relname, NULL, a.attname, a.attacl, c.relowner
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE a.attacl IS NOT NULL AND NOT a.attisdropped
  UNION ALL
  SELECT 'schema', NULL, n.nspname, NULL, NULL, n.nspacl, n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspacl IS NOT NULL
  UNION ALL
  SELECT 'routine', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid), NULL, p.proacl, p.proowner
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.proacl IS NOT NULL
  UNION ALL
  SELECT CASE WHEN t.typtype = 'd' THEN 'domain' ELSE 'type' END, n.nspname, t.typname, NULL, NULL, t.typacl, t.typowner
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.typacl IS NOT NULL
  UNION ALL
  SELECT 'foreign data wrapper', NULL, w.fdwname, NULL, NULL, w.fdwacl, w.fdwowner FROM pg_catalog.pg_foreign_data_wrapper w WHERE w.fdwacl IS NOT NULL
  UNION ALL
  SELECT 'foreign server', NULL, s.srvname, NULL, NULL, s.srvacl, s.srvowner FROM pg_catalog.pg_foreign_server s WHERE s.srvacl IS NOT NULL
  UNION ALL
  SELECT 'language', NULL, l.lanname, NULL, NULL, l.lanacl, l.lanowner FROM pg_catalog.pg_language l WHERE l.lanacl IS NOT NULL
)
SELECT kind, schema, name, signature, "column", p.privilege_type AS privilege, p.is_grantable AS grantable, ${HELD_BY_GROUP} AS "heldByGroup"
  FROM objects CROSS JOIN LATERAL aclexplode(acl) p
 WHERE p.grantee = $1::oid AND owner <> $1::oid
 ORDER BY kind, schema, name, signature, "column", privilege`;

// pg_default_acl says S for sequences where acldefault() takes s.
const HARD_WIRED = `aclexplode(acldefault(CASE d.defaclobjtype WHEN 'S' THEN 's'::"char" ELSE d.defaclobjtype END, d.defaclrole))`;

// Global entries spell out the hard-wired defaults too; only what differs from them is a grant to move.
const DEFAULT_PRIVILEGE_GRANTS = `
SELECT CASE WHEN d.defaclrole = $1::oid THEN NULL ELSE pg_catalog.pg_get_userbyid(d.defaclrole) END AS owner,
       n.nspname AS schema, d.defaclobjtype::text AS "objectType",
       CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END AS grantee,
       a.privilege_type AS privilege, a.is_grantable AS grantable, 'grant' AS action,
       EXISTS (SELECT 1 FROM pg_catalog.pg_default_acl t CROSS JOIN LATERAL aclexplode(t.defaclacl) b
                WHERE t.defaclrole = CASE WHEN d.defaclrole = $1::oid THEN $2::oid ELSE d.defaclrole END
                  AND t.defaclnamespace = d.defaclnamespace AND t.defaclobjtype = d.defaclobjtype
                  AND b.grantee = CASE WHEN a.grantee = $1::oid THEN $2::oid ELSE a.grantee END
                  AND b.privilege_type = a.privilege_type AND (b.is_grantable OR NOT a.is_grantable)) AS done
  FROM pg_catalog.pg_default_acl d
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
 CROSS JOIN LATERAL aclexplode(d.defaclacl) a
 WHERE (d.defaclrole = $1::oid OR a.grantee = $1::oid)
   AND NOT (d.defaclnamespace = 0 AND EXISTS (SELECT 1 FROM ${HARD_WIRED} x WHERE x.grantee = a.grantee AND x.privilege_type = a.privilege_type))
 ORDER BY 1, 2, 3, 4, 5`;

const DEFAULT_PRIVILEGE_REVOCATIONS = `
SELECT NULL AS owner, NULL AS schema, d.defaclobjtype::text AS "objectType",
       CASE WHEN x.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(x.grantee) END AS grantee,
       x.privilege_type AS privilege, false AS grantable, 'revoke' AS action,
       EXISTS (SELECT 1 FROM pg_catalog.pg_default_acl t
                WHERE t.defaclrole = $2::oid AND t.defaclnamespace = 0 AND t.defaclobjtype = d.defaclobjtype
                  AND NOT EXISTS (SELECT 1 FROM aclexplode(t.defaclacl) b
                                   WHERE b.grantee = CASE WHEN x.grantee = 0 THEN 0 ELSE $2::oid END AND b.privilege_type = x.privilege_type)) AS done
  FROM pg_catalog.pg_default_acl d CROSS JOIN LATERAL ${HARD_WIRED} x
 WHERE d.defaclrole = $1::oid AND d.defaclnamespace = 0
   AND NOT EXISTS (SELECT 1 FROM aclexplode(d.defaclacl) y WHERE y.grantee = x.grantee AND y.privilege_type = x.privilege_type)
 ORDER BY 3, 4, 5`;

const POLICIES = `
SELECT n.nspname AS schema, c.relname AS "table", p.polname AS name,
       ARRAY(SELECT CASE WHEN r = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(r)::text END FROM unnest(p.polroles) r) AS roles
  FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE $1::oid = ANY(p.polroles)
 ORDER BY 1, 2, 3`;

const MOVABLE_CATALOGS = ['pg_class', 'pg_namespace', 'pg_proc', 'pg_type', 'pg_foreign_data_wrapper', 'pg_foreign_server', 'pg_language', 'pg_default_acl']
  .map((c) => `'pg_catalog.${c}'::regclass`)
  .join(', ');

const UNSUPPORTED_PRIVILEGES = `
SELECT DISTINCT s.classid::regclass::text AS catalog FROM pg_catalog.pg_shdepend s
 WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND s.refobjid = $1::oid AND s.deptype = 'a'
   AND ((s.dbid = ${THIS_DATABASE} AND s.classid NOT IN (${MOVABLE_CATALOGS}))
        OR (s.dbid = 0 AND s.classid <> 'pg_catalog.pg_database'::regclass))
 ORDER BY 1`;
