import type { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type LocalPostgres } from '../src/local/embedded-postgres';
import { withSession, type PostgresEndpoint } from '../src/targets/postgres';
import { sessionsOpen } from '../src/targets/postgres-sessions';

const APPLICATION = 'session-cap-test';

describe('the cap on concurrent PostgreSQL sessions per server', () => {
  let postgres: LocalPostgres;
  let observer: Client;

  beforeAll(async () => {
    postgres = await startEmbeddedPostgres();
    observer = await postgres.connect();
  });
  afterAll(async () => {
    await observer?.end();
    await postgres?.stop();
  });

  function endpoint(maxSessions?: number): PostgresEndpoint {
    return { host: postgres.host, port: postgres.port, database: 'postgres', ssl: 'disable', connectTimeoutSeconds: 10, maxSessions };
  }

  /** Twelve sessions asked for at once, each holding its connection a moment; the server's own view sampled meanwhile. */
  async function burstOfSessions(target: PostgresEndpoint): Promise<{ peakOnServer: number; peakCounted: number }> {
    let peakOnServer = 0;
    let peakCounted = 0;
    let running = true;
    const sampling = (async () => {
      while (running) {
        const { rows } = await observer.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [APPLICATION]);
        peakOnServer = Math.max(peakOnServer, rows[0].n);
        peakCounted = Math.max(peakCounted, sessionsOpen(target));
      }
    })();
    const login = { user: postgres.superuser, password: postgres.superuserPassword, applicationName: APPLICATION };
    await Promise.all(Array.from({ length: 12 }, () => withSession(target, login, 'test', 'sleeping', (c) => c.query('SELECT pg_sleep(0.15)'))));
    running = false;
    await sampling;
    return { peakOnServer, peakCounted };
  }

  it('when twelve sessions are asked for at once with a cap of 3, then the server never holds more than 3 of them and all complete', async () => {
    const { peakOnServer, peakCounted } = await burstOfSessions(endpoint(3));
    expect(peakOnServer).toBeLessThanOrEqual(3);
    expect(peakCounted).toBe(3);
  });

  it('when no cap is configured, then the default of 5 applies', async () => {
    const { peakOnServer, peakCounted } = await burstOfSessions(endpoint());
    expect(peakOnServer).toBeLessThanOrEqual(5);
    expect(peakCounted).toBe(5);
  });

  it('when a session fails, then its place is given back', async () => {
    const target = endpoint(1);
    const login = { user: postgres.superuser, password: 'wrong', applicationName: APPLICATION };
    await expect(withSession(target, login, 'test', 'logging in', async () => undefined)).rejects.toThrow('logging in failed');
    expect(sessionsOpen(target)).toBe(0);
    const good = { ...login, password: postgres.superuserPassword };
    expect(await withSession(target, good, 'test', 'reading', async (c) => (await c.query('SELECT 1 AS one')).rows[0].one)).toBe(1);
  });
});
