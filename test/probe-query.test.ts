import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_DATABASE } from '../src/local/environment';
import { startHarness, type Harness } from './support/harness';

const ESCAPE = 'SELECT 1; COMMIT; CREATE TABLE probe_escaped (id int)';

describe('the probe query runs as one read-only statement', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'escape-db', role: 'escape_app', probeQuery: ESCAPE },
      { id: 'reader-db', role: 'reader_app', probeQuery: 'SELECT count(*) FROM pg_catalog.pg_class' },
    ]);
    // The role may create tables, so only the probe's own limits can stop it.
    const app = await h.env.postgres.connect(LOCAL_DATABASE);
    await app.query('GRANT CREATE ON SCHEMA public TO escape_app');
    await app.end();
  });
  afterAll(() => h?.stop());

  async function tableExists(name: string): Promise<boolean> {
    const app = await h.env.postgres.connect(LOCAL_DATABASE);
    try {
      return (await app.query('SELECT to_regclass($1) IS NOT NULL AS found', [`public.${name}`])).rows[0].found;
    } finally {
      await app.end();
    }
  }

  it(`when the probe is "${ESCAPE}", then verify fails, the table is never created and the live password still logs in`, async () => {
    const live = h.liveValue('escape-db');
    const result = await h.rotate(h.newHost(), 'escape-db');
    expect(result.custom.outcome).toBe('failed');
    expect(result.custom.error).toMatchObject({ stage: 'verify', code: 'postgres-error' });
    expect(result.custom.error?.message).toContain('PostgreSQL 42601: cannot insert multiple commands into a prepared statement');
    expect(await tableExists('probe_escaped')).toBe(false);
    expect(await h.login('escape_app', live)).toBe('accepted');
  });

  it('when the probe is a single statement that writes, then the read-only transaction refuses it (SQLSTATE 25006)', async () => {
    const postgres = h.deps.current.postgres(h.env.config.credentials[0]);
    const password = h.liveValue('escape-db');
    await expect(postgres.probe('verify', 'escape_app', password, 'CREATE TABLE probe_written (id int)')).rejects.toMatchObject({
      message: expect.stringContaining('PostgreSQL 25006'),
    });
    expect(await tableExists('probe_written')).toBe(false);
  });

  it('when the probe only reads, then verify passes and the rotation succeeds', async () => {
    const result = await h.rotate(h.newHost(), 'reader-db');
    expect(result.custom.outcome).toBe('succeeded');
  });
});
