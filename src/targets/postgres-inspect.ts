import { ADMIN_DATABASE, ROTATION_ADMIN_ROLE, withSession, type AdminLogin, type PostgresEndpoint } from './postgres';

// Without USAGE on the schema, naming the function would raise instead of answering false.
const RIGHTS = `
SELECT t.rolname,
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'credential_rotation')
             AND pg_catalog.has_schema_privilege('credential_rotation', 'USAGE')
            THEN pg_catalog.has_function_privilege('credential_rotation.set_password(text,text)', 'EXECUTE') ELSE false END AS execute,
       COALESCE((SELECT o.rolcreaterole AND (current_setting('server_version_num')::int < 160000 OR pg_catalog.pg_has_role(o.oid, t.oid, 'MEMBER WITH ADMIN OPTION'))
                   FROM pg_catalog.pg_roles o WHERE o.rolname = $2), false) AS owner
  FROM pg_catalog.pg_roles t WHERE t.rolname = ANY($1::text[])`;

// Looked up in the catalog by oid: naming a missing function (a server bootstrapped before it
// existed) in the query itself would fail the whole statement.
const IS_ALLOWED_STATE = `
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'credential_rotation') THEN 'no-schema'
            WHEN f.oid IS NULL THEN 'missing'
            WHEN NOT pg_catalog.has_schema_privilege('credential_rotation', 'USAGE') OR NOT pg_catalog.has_function_privilege(f.oid, 'EXECUTE') THEN 'not-granted'
            ELSE 'ok' END AS state
  FROM (SELECT NULL) AS one
  LEFT JOIN (SELECT p.oid FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'credential_rotation' AND p.proname = 'is_allowed' AND p.pronargs = 1 AND p.proargtypes[0] = 'text'::pg_catalog.regtype) AS f ON true`;

/** A login role as the catalog shows it to the rotator (pg_roles, pg_stat_activity): never a password. */
export interface RoleFacts {
  role: string;
  exists: boolean;
  canLogin: boolean;
  /** VALID UNTIL, ISO; undefined for none. */
  validUntil?: string;
  /** -1 for no limit. */
  connectionLimit: number;
  sessions: number;
}

/**
 * What the rotator's own login may do to a role, read from the catalog. The allow-list itself
 * is readable by its owner only: `allowList` asks credential_rotation.is_allowed instead.
 */
export interface RoleRights {
  role: string;
  /** The rotator may execute credential_rotation.set_password (infra/postgres/10-rotator.sql). */
  execute: boolean;
  /** The functions' owner may alter the role: CREATEROLE, and ADMIN OPTION on it from PostgreSQL 16 on. */
  ownerMayAlter: boolean;
}

export type AllowList = { state: 'ok'; allowed: Map<string, boolean> } | { state: 'no-schema' | 'missing' | 'not-granted' };

export interface ServerFacts {
  user: string;
  version: string;
  versionNum: number;
  passwordEncryption: string;
  /** Azure Flexible Server's `azure.accepted_password_auth_method`; undefined elsewhere. */
  acceptedAuthMethods?: string;
}

/**
 * Read-only catalog queries as the rotator's own login, for the drift check and preflight.
 * Nothing here changes the server.
 */
export class PostgresInspector {
  constructor(private readonly endpoint: PostgresEndpoint, private readonly admin: AdminLogin) {}

  async server(stage: string): Promise<ServerFacts> {
    return this.query(stage, 'reading the server settings', async (client) => {
      const { rows } = await client.query<{ user: string; version: string; version_num: string; password_encryption: string; accepted: string | null }>(
        `SELECT current_user AS user, current_setting('server_version') AS version, current_setting('server_version_num') AS version_num,
                current_setting('password_encryption') AS password_encryption, current_setting('azure.accepted_password_auth_method', true) AS accepted`,
      );
      const r = rows[0];
      return { user: r.user, version: r.version, versionNum: Number(r.version_num), passwordEncryption: r.password_encryption, acceptedAuthMethods: r.accepted ?? undefined };
    });
  }

  async roles(stage: string, roles: string[]): Promise<RoleFacts[]> {
    return this.query(stage, `reading roles ${roles.join(', ')}`, async (client) => {
      const { rows } = await client.query<{ rolname: string; rolcanlogin: boolean; rolvaliduntil: Date | null; rolconnlimit: number; sessions: string }>(
        `SELECT r.rolname, r.rolcanlogin, r.rolvaliduntil, r.rolconnlimit,
                (SELECT count(*) FROM pg_catalog.pg_stat_activity a WHERE a.usename = r.rolname) AS sessions
           FROM pg_catalog.pg_roles r WHERE r.rolname = ANY($1::text[])`,
        [roles],
      );
      return roles.map((role) => {
        const r = rows.find((row) => row.rolname === role);
        if (!r) return { role, exists: false, canLogin: false, connectionLimit: -1, sessions: 0 };
        const validUntil = r.rolvaliduntil && Number.isFinite(r.rolvaliduntil.getTime()) ? r.rolvaliduntil.toISOString() : undefined;
        return { role, exists: true, canLogin: r.rolcanlogin, validUntil, connectionLimit: r.rolconnlimit, sessions: Number(r.sessions) };
      });
    });
  }

  /** Joins on the role's oid, so a missing role yields no row instead of an error; read where the functions live. */
  async rights(stage: string, roles: string[]): Promise<RoleRights[]> {
    return this.query(stage, `reading the rotator's rights over ${roles.join(', ')}`, async (client) => {
      const { rows } = await client.query<{ rolname: string; execute: boolean; owner: boolean }>(RIGHTS, [roles, ROTATION_ADMIN_ROLE]);
      return rows.map((r) => ({ role: r.rolname, execute: r.execute, ownerMayAlter: r.owner }));
    }, ADMIN_DATABASE);
  }

  /**
   * Whether each role is on the rotator's allow-list, through credential_rotation.is_allowed,
   * or why that function cannot answer: no schema, missing (an older 10-rotator.sql), not granted.
   */
  async allowList(stage: string, roles: string[]): Promise<AllowList> {
    return this.query(stage, `reading the allow-list for ${roles.join(', ')}`, async (client) => {
      const { rows: [{ state }] } = await client.query<{ state: AllowList['state'] }>(IS_ALLOWED_STATE);
      if (state !== 'ok') return { state };
      const { rows } = await client.query<{ rolname: string; allowed: boolean }>('SELECT r AS rolname, credential_rotation.is_allowed(r) AS allowed FROM pg_catalog.unnest($1::text[]) AS r', [roles]);
      return { state, allowed: new Map(rows.map((r) => [r.rolname, r.allowed])) };
    }, ADMIN_DATABASE);
  }

  private query<T>(stage: string, what: string, work: Parameters<typeof withSession<T>>[4], database?: string): Promise<T> {
    return withSession(this.endpoint, { user: this.admin.user, password: this.admin.password, database, applicationName: 'credential-rotator' }, stage, what, work);
  }
}
