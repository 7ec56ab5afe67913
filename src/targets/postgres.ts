import type { TokenCredential } from '@azure/core-auth';
import type { Client, ClientConfig, DatabaseError } from 'pg';
import { isTransient, RotationError } from '../errors';
import { holdSecret } from '../held-secrets';
import { DEFAULT_SESSIONS_PER_SERVER, withServerSlot } from './postgres-sessions';

export interface PostgresEndpoint {
  host: string;
  port: number;
  database: string;
  ssl: 'require' | 'disable';
  connectTimeoutSeconds: number;
  /** Trust anchor for the server certificate; absent: the system's. */
  ca?: string;
  /** Most sessions at once on this host and port, across the process; absent: DEFAULT_SESSIONS_PER_SERVER. */
  maxSessions?: number;
}

/** How the rotator logs in; `password` is called per connection (an Entra token expires). */
export interface AdminLogin {
  user: string;
  password: () => Promise<string>;
  /** Drops a remembered password that the server refused, so the next call reads it afresh. */
  forget?: () => void;
}

export const ENTRA_POSTGRES_SCOPE = 'https://ossrdbms-aad.database.windows.net/.default';

/** A Microsoft Entra access token is the password of an Entra principal on Azure PostgreSQL. */
export function entraTokenPassword(credential: TokenCredential): () => Promise<string> {
  return async () => {
    const token = await credential.getToken(ENTRA_POSTGRES_SCOPE);
    if (!token) throw new Error('no Microsoft Entra token for PostgreSQL');
    holdSecret(token.token);
    return token.token;
  };
}

export interface LoginRules {
  canLogin: boolean;
  /** -1: no limit. */
  connectionLimit: number;
  validUntil: string | null;
  expired: boolean;
}

export interface PasswordSettings {
  passwordEncryption: string;
  azureAccepted: string | null;
}

export interface Readiness {
  settings: PasswordSettings;
  /** Per role: its login rules and, when a group was asked about, whether it is a member; undefined: no such role. */
  roles: Map<string, (LoginRules & { memberOfGroup?: boolean }) | undefined>;
}

// A fixed first key keeps our advisory locks apart from the application's own.
const LOCK_NAMESPACE = 0x526f74;
const APPLICATION_NAME = 'credential-rotator';

/**
 * The rotator changes roles only through the functions infra/postgres/10-rotator.sql installs
 * in this database (roles are server-wide; the probe still logs in to the credential's own).
 */
export const ADMIN_DATABASE = 'postgres';
/** The NOLOGIN owner of those functions and of their allow-list. */
export const ROTATION_ADMIN_ROLE = 'credential_rotation_admin';

/** The only module that talks to PostgreSQL. It speaks roles, verifiers and logins. */
export class PostgresTarget {
  constructor(private readonly endpoint: PostgresEndpoint, private readonly admin: AdminLogin) {}

  /**
   * Sets the password from a verifier through `credential_rotation.set_password`, the verifier
   * a bound parameter (never statement text), under a per-role advisory lock so two rotations
   * never interleave; `login` also lets a retired login role log in again.
   */
  async setPasswordVerifier(stage: string, role: string, verifier: string, options: { login?: boolean } = {}): Promise<void> {
    holdSecret(verifier);
    await this.asAdmin(stage, `setting the password of role ${role}`, (client) => setVerifier(client, role, verifier, options));
  }

  /**
   * Apply's one admin session: what must hold is read first and handed to `produce`, which
   * refuses by throwing, or writes the password where it is kept and returns its verifier;
   * the verifier is then set as setPasswordVerifier sets it. One login instead of two.
   */
  async setPasswordChecked(stage: string, ask: { roles: readonly string[]; group?: string }, role: string, produce: (readiness: Readiness) => Promise<string>, options: { login?: boolean } = {}): Promise<void> {
    await this.asAdmin(stage, `setting the password of role ${role}`, async (client) => {
      const readiness = await readReadiness(client, ask.roles, ask.group);
      // Its failures are its own (a refusal, a Key Vault error): not PostgreSQL's to classify.
      const verifier = await produce(readiness).catch((error: unknown) => {
        throw new NotPostgres(error);
      });
      holdSecret(verifier);
      await setVerifier(client, role, verifier, options);
    });
  }

  /** Leaves the role without any password (and, with `nologin`, unable to log in at all). */
  async clearPassword(stage: string, role: string, options: { nologin?: boolean } = {}): Promise<void> {
    await this.asAdmin(stage, `clearing the password of role ${role}`, (client) =>
      inTransaction(client, async () => {
        await client.query('SELECT credential_rotation.set_password($1, NULL)', [role]);
        if (options.nologin) await client.query('SELECT credential_rotation.set_login($1, false)', [role]);
      }),
    );
  }

  /**
   * Retires a login role: no new logins, no password, and its remaining sessions ended
   * (or only counted). Re-applying is harmless.
   */
  async retireLogin(stage: string, role: string, endSessions: boolean): Promise<{ sessions: number; ended: number }> {
    return this.asAdmin(stage, `retiring login role ${role}`, async (client) => {
      const { rows } = await client.query<{ sessions: number; ended: number }>('SELECT sessions, ended FROM credential_rotation.retire_login($1, $2)', [role, endSessions]);
      return rows[0];
    });
  }

  /** True when the role logs in with the password; false when the server refuses it. */
  async canLogin(stage: string, role: string, password: string): Promise<boolean> {
    holdSecret(password);
    try {
      await this.asRole(stage, role, password, async () => undefined);
      return true;
    } catch (error) {
      if (error instanceof RotationError && (error.code === 'login-refused' || error.code === 'login-not-permitted')) return false;
      throw error;
    }
  }

  /**
   * Logs in as the role, runs SELECT 1 and the optional probe query. The probe goes through
   * the extended protocol, which takes exactly one statement (`SELECT 1; COMMIT; CREATE ...`
   * is refused by the server), inside a READ ONLY transaction that is always rolled back.
   */
  async probe(stage: string, role: string, password: string, probeQuery?: string): Promise<{ latencyMs: number }> {
    holdSecret(password);
    const started = performance.now();
    await this.asRole(stage, role, password, async (client) => {
      await client.query('SELECT 1');
      if (probeQuery) {
        await client.query('BEGIN READ ONLY');
        try {
          // pg reads queryMode (its type definitions lag): 'extended' parses even without parameters.
          const oneStatement = { text: probeQuery, queryMode: 'extended' as const };
          await client.query(oneStatement);
        } finally {
          await client.query('ROLLBACK');
        }
      }
    });
    return { latencyMs: Math.round(performance.now() - started) };
  }

  /** A remembered admin password the server refuses was changed meanwhile: read it again, once. */
  private async asAdmin<T>(stage: string, what: string, work: (client: Client) => Promise<T>): Promise<T> {
    const session = () => withSession(this.endpoint, { user: this.admin.user, password: this.admin.password, database: ADMIN_DATABASE, applicationName: APPLICATION_NAME }, stage, what, work);
    try {
      return await session();
    } catch (error) {
      if (!this.admin.forget || !(error instanceof RotationError) || error.code !== 'login-refused') throw error;
      this.admin.forget();
      return session();
    }
  }

  private asRole<T>(stage: string, role: string, password: string, work: (client: Client) => Promise<T>): Promise<T> {
    return this.session(stage, `logging in as ${role}`, { user: role, password }, work);
  }

  private session<T>(stage: string, what: string, login: Pick<ClientConfig, 'user' | 'password'>, work: (client: Client) => Promise<T>): Promise<T> {
    return withSession(this.endpoint, { ...login, applicationName: APPLICATION_NAME }, stage, what, work);
  }
}

/** Under a per-role advisory lock, so two rotations never interleave; `login` also lets a retired login role log in again. */
async function setVerifier(client: Client, role: string, verifier: string, options: { login?: boolean }): Promise<void> {
  await inTransaction(client, async () => {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE, role]);
    await client.query('SELECT credential_rotation.set_password($1, $2)', [role, verifier]);
    if (options.login) await client.query('SELECT credential_rotation.set_login($1, true)', [role]);
  });
}

/** The password settings, and per role its login rules and (asked about a group) its membership. */
async function readReadiness(client: Client, roles: readonly string[], group?: string): Promise<Readiness> {
  const readiness: Readiness = { settings: await readPasswordSettings(client), roles: new Map() };
  for (const role of roles) {
    const rules = await readLoginRules(client, role);
    readiness.roles.set(role, rules && { ...rules, memberOfGroup: group === undefined ? undefined : await readMembership(client, role, group) });
  }
  return readiness;
}

async function readLoginRules(client: Client, role: string): Promise<LoginRules | undefined> {
  const result = await client.query<LoginRules>(
    `SELECT rolcanlogin AS "canLogin", rolconnlimit AS "connectionLimit", rolvaliduntil::text AS "validUntil",
            coalesce(rolvaliduntil < now(), false) AS expired
       FROM pg_catalog.pg_roles WHERE rolname = $1`,
    [role],
  );
  return result.rows[0];
}

async function readPasswordSettings(client: Client): Promise<PasswordSettings> {
  const result = await client.query<PasswordSettings>(
    `SELECT current_setting('password_encryption') AS "passwordEncryption",
            current_setting('azure.accepted_password_auth_method', true) AS "azureAccepted"`,
  );
  return result.rows[0];
}

async function readMembership(client: Client, login: string, group: string): Promise<boolean> {
  const result = await client.query('SELECT pg_has_role($1, $2, $3) AS member', [login, group, 'MEMBER']);
  return result.rows[0]?.member === true;
}

async function inTransaction(client: Client, work: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await work();
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * One connection for one piece of work: connect, work, always close; every failure comes
 * out classified, naming `what` and never the statement's text.
 */
export async function withSession<T>(
  endpoint: PostgresEndpoint,
  login: Pick<ClientConfig, 'user' | 'password'> & { database?: string; applicationName: string },
  stage: string,
  what: string,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  // Fetched before a place is taken: a paced Key Vault read or a token request must not hold one.
  const password = await resolvePassword(login.password).catch((error: unknown) => {
    throw classifyPostgresError(stage, what, error);
  });
  return withServerSlot(endpoint, endpoint.maxSessions ?? DEFAULT_SESSIONS_PER_SERVER, () => oneSession(endpoint, { ...login, password }, stage, what, work));
}

async function resolvePassword(password: ClientConfig['password']): Promise<ClientConfig['password']> {
  return typeof password === 'function' ? password() : password;
}

async function oneSession<T>(endpoint: PostgresEndpoint, login: Pick<ClientConfig, 'user' | 'password'> & { database?: string; applicationName: string }, stage: string, what: string, work: (client: Client) => Promise<T>): Promise<T> {
  // Required on first use, so a cold start does not load the driver.
  const client = new (require('pg') as typeof import('pg')).Client({
    host: endpoint.host,
    port: endpoint.port,
    database: login.database ?? endpoint.database,
    ssl: endpoint.ssl === 'require' ? { rejectUnauthorized: true, servername: endpoint.host, ca: endpoint.ca } : false,
    connectionTimeoutMillis: endpoint.connectTimeoutSeconds * 1000,
    application_name: login.applicationName,
    user: login.user,
    password: login.password,
  });
  // A socket error after connect must not crash the process; the query fails instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } catch (error) {
    if (error instanceof NotPostgres) throw error.error;
    throw classifyPostgresError(stage, what, error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** An error from work inside a session that did not come from PostgreSQL: passed through as it is. */
class NotPostgres {
  constructor(readonly error: unknown) {}
}

const PERMANENT_CODES: Record<string, string> = {
  '28P01': 'login-refused',
  // invalid_authorization_specification: the role may not log in (NOLOGIN, or no pg_hba.conf entry), whatever the password.
  '28000': 'login-not-permitted',
  '42501': 'permission-denied',
  '42704': 'unknown-role',
  '3D000': 'unknown-database',
};

/**
 * Only the server's text of error classes that name objects, never data: a data exception
 * (22), an integrity violation (23) or a raised exception (P0) from the probe can quote a
 * row's values. The detail only for 42501, where PostgreSQL 16+ names the missing CREATEROLE
 * or ADMIN option. The statement text is never copied.
 */
function serverText(code: string, error: DatabaseError): string {
  if (!/^(08|28|3D|3F|40|42|53|55|57)/.test(code)) return '';
  const detail = code === '42501' && error.detail ? `. ${error.detail}` : '';
  return `: ${error.message}${detail}`.split('\n')[0].slice(0, 400);
}

/** Server messages name roles, never passwords; the statement text is not copied. */
export function classifyPostgresError(stage: string, what: string, error: unknown): RotationError {
  if (error instanceof RotationError) return error;
  if (error instanceof (require('pg') as typeof import('pg')).DatabaseError) {
    const code = error.code ?? 'unknown';
    const transient = /^(08|53|57P|40001|40P01)/.test(code);
    return new RotationError({
      code: PERMANENT_CODES[code] ?? (transient ? 'postgres-unavailable' : 'postgres-error'),
      stage,
      retryable: transient,
      message: `${what} failed: PostgreSQL ${code}${serverText(code, error)}`,
    });
  }
  const err = error as NodeJS.ErrnoException;
  const transient = isTransient(undefined, err?.code) || /timeout|terminated|Connection terminated/i.test(err?.message ?? '');
  return new RotationError({
    code: transient ? 'postgres-unavailable' : 'postgres-error',
    stage,
    retryable: transient,
    message: `${what} failed: ${err?.code ? `${err.code} ` : ''}${err?.message ?? String(error)}`,
  });
}
