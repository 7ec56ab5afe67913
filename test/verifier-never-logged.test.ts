import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RotationError } from '../src/errors';
import { ROTATOR_ROLE } from '../src/local/environment';
import { generatePassword, scramSha256Verifier } from '../src/rotation/password';
import { startHarness, type Harness } from './support/harness';

// Any SCRAM-SHA-256 verifier, not only the ones a test knows: a rotation computes its own.
const ANY_VERIFIER = /SCRAM-SHA-256\$\d+:/;

describe('the SCRAM verifier never reaches the server log or pg_stat_statements (log_statement = all, pg_stat_statements.track = all)', () => {
  let h: Harness;
  const verifiers: string[] = [];
  let refusal: unknown;

  beforeAll(async () => {
    h = await startHarness([
      { id: 'ok-db', role: 'ok_app' },
      { id: 'failing-db', role: 'failing_app', probeQuery: 'SELECT no_such_column FROM pg_class' },
      { id: 'alt-db', role: 'alt', strategy: 'alternating-users', overrides: { graceMinutes: 1 } },
    ]);
    const admin = await h.env.postgres.connect();
    await admin.query('CREATE EXTENSION pg_stat_statements');
    await admin.query('SELECT pg_stat_statements_reset()');
    // Listed, but its owner holds no ADMIN OPTION on it: the ALTER ROLE inside set_password fails.
    await admin.query(`SET log_statement = 'none'`);
    await admin.query(`CREATE ROLE orphan_app LOGIN`);
    await admin.query(`INSERT INTO credential_rotation.managed_role VALUES ('orphan_app')`);
    await admin.end();

    const host = h.newHost();
    await h.rotate(host, 'ok-db');
    await h.rotate(host, 'failing-db');
    await h.rotate(host, 'alt-db');
    await h.rotate(host, 'alt-db');
    const postgres = h.deps.current.postgres(h.env.config.credentials[0]);
    const verifier = await scramSha256Verifier(generatePassword(32));
    verifiers.push(verifier);
    refusal = await postgres.setPasswordVerifier('apply', 'orphan_app', verifier).then(() => undefined, (e: unknown) => e);
  });
  afterAll(() => h?.stop());

  it('when set_password fails inside, then the error names the cause and carries no verifier', () => {
    expect(refusal).toBeInstanceOf(RotationError);
    const error = refusal as RotationError;
    expect(error.code).toBe('permission-denied');
    expect(error.message).toMatch(/^apply: setting the password of role orphan_app failed: PostgreSQL 42501: permission denied to alter role/);
    expect(JSON.stringify({ message: error.message, cause: String(error.cause ?? '') })).not.toMatch(ANY_VERIFIER);
  });

  it('then the statement log shows the function calls, with placeholders, and the failure, but no verifier', () => {
    const log = h.env.postgres.serverLog.join('\n');
    expect(log).toContain('SELECT credential_rotation.set_password($1, $2)');
    expect(log).toContain('ERROR:  permission denied to alter role');
    expect(log).toContain('SELECT sessions, ended FROM credential_rotation.retire_login($1, $2)');
    expect(log).not.toMatch(ANY_VERIFIER);
    for (const verifier of verifiers) expect(log).not.toContain(verifier.split('$')[2]);
  });

  it('then pg_stat_statements holds the calls and no verifier, not even from the ALTER ROLE run inside the function', async () => {
    const admin = await h.env.postgres.connect();
    const { rows } = await admin.query<{ query: string }>('SELECT s.query FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = $1', [ROTATOR_ROLE]);
    const { rows: all } = await admin.query<{ query: string }>('SELECT query FROM pg_stat_statements');
    await admin.end();
    expect(rows.map((r) => r.query)).toContain('SELECT credential_rotation.set_password($1, $2)');
    expect(all.map((r) => r.query).filter((q) => ANY_VERIFIER.test(q))).toEqual([]);
  });

  it('then the rotator role keeps bound parameters out of the log and pg_stat_statements to its top-level statements', async () => {
    const admin = await h.env.postgres.connect();
    const { rows } = await admin.query(`SELECT setconfig FROM pg_db_role_setting WHERE setrole = $1::regrole AND setdatabase = 0`, [ROTATOR_ROLE]);
    await admin.end();
    expect(rows[0].setconfig).toEqual(['log_parameter_max_length=0', 'log_parameter_max_length_on_error=0', 'pg_stat_statements.track=top']);
  });
});
