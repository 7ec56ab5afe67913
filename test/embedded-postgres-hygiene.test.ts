import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type LocalPostgres } from '../src/local/embedded-postgres';

describe('the embedded PostgreSQL keeps its files and its superuser to itself', () => {
  let pg: LocalPostgres;
  let dataDirectory: string;
  beforeAll(async () => {
    pg = await startEmbeddedPostgres();
    const client = await pg.connect();
    dataDirectory = (await client.query<{ data_directory: string }>('SHOW data_directory')).rows[0].data_directory;
    await client.end();
  });
  afterAll(() => pg?.stop());

  it('when it runs, then every directory it made under the temporary directory is mode 0700', () => {
    const made: string[] = [];
    for (let dir = dataDirectory; relative(tmpdir(), dir) !== ''; dir = dirname(dir)) made.push(dir);
    expect(made.length).toBeGreaterThan(0);
    for (const dir of made) expect((statSync(dir).mode & 0o777).toString(8), dir).toBe('700');
  });

  it('when a second one starts, then its superuser password is another 32 random characters (crypto), and when it stops its directory is gone', async () => {
    expect(pg.superuserPassword).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const other = await startEmbeddedPostgres();
    const client = await other.connect();
    const dir = (await client.query<{ data_directory: string }>('SHOW data_directory')).rows[0].data_directory;
    await client.end();
    await other.stop();
    expect(other.superuserPassword).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(other.superuserPassword).not.toBe(pg.superuserPassword);
    expect(existsSync(dir)).toBe(false);
  });
});
