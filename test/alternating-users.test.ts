import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_DATABASE, secretNameFor } from '../src/local/environment';
import type { RotationStatus } from '../src/rotation/status';
import { startHarness, type Harness } from './support/harness';

const CRASH_POINTS = [
  { after: 'begin', method: 'latest', call: 2 },
  { after: 'stage', method: 'write', call: 1 },
  { after: 'ALTER ROLE inside apply', method: 'setPasswordChecked', call: 1 },
  { after: 'verify', method: 'probe', call: 1 },
  { after: 'promote', method: 'remove', call: 1 },
  { after: 'the NOLOGIN inside retire', method: 'retireLogin', call: 1 },
] as const;
const CASES = CRASH_POINTS.flatMap((p, i) => (['replay', 'fresh'] as const).map((mode) => ({ ...p, mode, id: `alt-crash-${i}-${mode}`, group: `alt_crash_${i}_${mode}` })));

describe('alternating users: the live login always works, the other is idle or retired', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'alt-db', role: 'alt', strategy: 'alternating-users', github: [{ repo: 'acme/alt', secret: 'DATABASE_URL', format: 'database-url' }] },
      { id: 'alt-fail-db', role: 'altfail', strategy: 'alternating-users', probeQuery: 'SELECT * FROM missing' },
      { id: 'alt-report-db', role: 'altrep', strategy: 'alternating-users', overrides: { retireSessions: 'report' } },
      ...CASES.map((c) => ({ id: c.id, role: c.group, strategy: 'alternating-users' as const })),
    ]);
  });
  afterAll(() => h?.stop());

  async function loginState(group: string, id: string) {
    const live = h.env.vault.versions(secretNameFor(id)).at(-1)!;
    const liveRole = live.tags.role;
    const other = liveRole === `${group}_a` ? `${group}_b` : `${group}_a`;
    const admin = await h.env.postgres.connect();
    const { rows } = await admin.query<{ rolcanlogin: boolean; rolpassword: string | null }>('SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1', [other]);
    await admin.end();
    return { liveRole, other, liveLogin: await h.login(liveRole, live.value), otherCanLogin: rows[0].rolcanlogin && rows[0].rolpassword !== null };
  }

  it('when three rotations run back to back, then the login alternates, each consumer gets the new user with its password, and the old login is refused after retirement', async () => {
    const host = h.newHost();
    const seen: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const before = h.env.vault.versions(secretNameFor('alt-db')).at(-1)!;
      const result = await h.rotate(host, 'alt-db');
      const status = result.status.customStatus as RotationStatus;
      expect(status.outcome).toBe('succeeded');
      const state = await loginState('alt', 'alt-db');
      seen.push(state.liveRole);
      expect(state.liveLogin).toBe('accepted');
      expect(state.other).toBe(before.tags.role);
      expect(await h.login(before.tags.role, before.value)).toMatch(/^refused/);
      expect(state.otherCanLogin).toBe(false);
      expect(status.retiredLogin).toMatchObject({ role: before.tags.role });
      expect(h.env.github.secretValue({ repo: 'acme/alt', name: 'DATABASE_URL' })).toContain(`//${state.liveRole}:`);
    }
    expect(seen).toEqual(['alt_b', 'alt_a', 'alt_b']);
  });

  it('when tables are created through either login, then the other login reads and writes them after the switch', async () => {
    const connect = async (role: string, password: string) => {
      const c = new Client({ host: h.env.postgres.host, port: h.env.postgres.port, database: LOCAL_DATABASE, user: role, password });
      c.on('error', () => undefined);
      await c.connect();
      return c;
    };
    const first = h.env.vault.versions(secretNameFor('alt-db')).at(-1)!;
    const a = await connect(first.tags.role, first.value);
    await a.query('CREATE TABLE orders (id int primary key, note text)');
    await a.query("INSERT INTO orders VALUES (1, 'by the first login')");
    await a.end();
    await h.rotate(h.newHost(), 'alt-db');
    const second = h.env.vault.versions(secretNameFor('alt-db')).at(-1)!;
    expect(second.tags.role).not.toBe(first.tags.role);
    const b = await connect(second.tags.role, second.value);
    await b.query("INSERT INTO orders VALUES (2, 'by the second login')");
    await b.query('CREATE TABLE invoices (id int)');
    expect((await b.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(2);
    const owners = await b.query<{ tableowner: string }>("SELECT DISTINCT tableowner FROM pg_tables WHERE tablename IN ('orders', 'invoices')");
    expect(owners.rows).toEqual([{ tableowner: 'alt' }]);
    await b.end();
  });

  it('when verify fails, then the live login is untouched and the idle login is left without a password', async () => {
    const live = h.env.vault.versions(secretNameFor('alt-fail-db')).at(-1)!;
    const result = await h.rotate(h.newHost(), 'alt-fail-db');
    expect(result.status.runtimeStatus).toBe('Failed');
    expect(result.custom.error).toMatchObject({ stage: 'verify' });
    const state = await loginState('altfail', 'alt-fail-db');
    expect(state.liveRole).toBe(live.tags.role);
    expect(state.liveLogin).toBe('accepted');
    expect(state.otherCanLogin).toBe(false);
    expect(h.pendingExists('alt-fail-db')).toBe(false);
  });

  it('when retirement is set to report, then the old login stops accepting logins but its open session is counted, not ended', async () => {
    const live = h.env.vault.versions(secretNameFor('alt-report-db')).at(-1)!;
    const open = new Client({ host: h.env.postgres.host, port: h.env.postgres.port, database: LOCAL_DATABASE, user: live.tags.role, password: live.value });
    open.on('error', () => undefined);
    await open.connect();
    try {
      const result = await h.rotate(h.newHost(), 'alt-report-db');
      expect((result.status.customStatus as RotationStatus).retiredLogin).toEqual({ role: live.tags.role, sessions: 1, endedSessions: 0 });
      expect((await open.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      expect(await h.login(live.tags.role, live.value)).toMatch(/^refused/);
    } finally {
      await open.end().catch(() => undefined);
    }
  });

  it.each(CASES)('when the process dies after $after and is started again ($mode), then exactly one login is live and the other idle or retired', async ({ id, group, method, call, mode }) => {
    const { status } = await h.crashAndRecover(id, { method, call }, mode);
    expect(status.runtimeStatus).toBe('Completed');
    const state = await loginState(group, id);
    expect(state.liveLogin).toBe('accepted');
    expect(state.otherCanLogin).toBe(false);
    expect(h.pendingExists(id)).toBe(false);
    expect(h.env.vault.versions(secretNameFor(id)).filter((v) => v.enabled)).toHaveLength(1);
  });
});
