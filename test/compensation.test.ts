import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RotationError } from '../src/errors';
import { vaultRequest } from '../src/local/emulators/key-vault';
import { secretNameFor } from '../src/local/environment';
import { startHarness, type Harness } from './support/harness';
import { PostgresFaultProxy } from './support/soak-postgres-proxy';

describe('invariant 6: a failure before promote is compensated', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'probe-db', role: 'probe_app', probeQuery: 'SELECT * FROM table_that_does_not_exist' },
      { id: 'denied-db', role: 'denied_app' },
      { id: 'flaky-db', role: 'flaky_app' },
      { id: 'unstaged-db', role: 'unstaged_app' },
      { id: 'alt-refused-db', role: 'alt_refused', strategy: 'alternating-users' },
    ]);
  });
  afterAll(() => h?.stop());

  function expectCompensated(id: string, role: string) {
    return async () => {
      const live = h.liveValue(id);
      expect(live).toBe(h.env.initialPasswords.get(id));
      expect(await h.login(role, live)).toBe('accepted');
      expect(h.pendingExists(id)).toBe(false);
      expect(h.env.vault.versions(secretNameFor(id))).toHaveLength(1);
    };
  }

  it('when verify fails after apply, then the role gets the live password back, the pending secret is removed and the failure names the stage', async () => {
    const pendingName = `${secretNameFor('probe-db')}-pending`;
    const result = await h.rotate(h.newHost(), 'probe-db');
    const pendingPassword = h.env.vault.versions(pendingName)[0].value;

    expect(result.status.runtimeStatus).toBe('Failed');
    expect(result.custom.error).toMatchObject({ code: 'postgres-error', stage: 'verify' });
    expect(result.custom.error?.message).toContain('table_that_does_not_exist');
    expect(result.custom.stages.map((s) => `${s.stage}:${s.outcome}`)).toEqual(['begin:succeeded', 'stage:succeeded', 'apply:succeeded', 'verify:failed', 'compensate:succeeded']);
    expect(await h.login('probe_app', pendingPassword)).toBe('refused 28P01');
    await expectCompensated('probe-db', 'probe_app')();
  });

  it('when Key Vault refuses the pending secret, then the failure is stage\'s, nothing reached PostgreSQL and compensation has nothing to undo', async () => {
    h.env.vault.inject({ match: vaultRequest({ operation: 'setSecret', name: `${secretNameFor('unstaged-db')}-pending` }), status: 403, times: 1 });
    const result = await h.rotate(h.newHost(), 'unstaged-db');

    expect(result.status.runtimeStatus).toBe('Failed');
    expect(result.custom.error).toMatchObject({ code: 'key-vault-forbidden', stage: 'stage', retryable: false });
    expect(result.custom.stages.map((s) => `${s.stage}:${s.outcome}`)).toEqual(['begin:succeeded', 'stage:failed', 'compensate:succeeded']);
    expect(h.env.vault.versions(`${secretNameFor('unstaged-db')}-pending`)).toHaveLength(0);
    await expectCompensated('unstaged-db', 'unstaged_app')();
  });

  it('when the rotator may not alter the role, then apply fails at once with the permission error, and the live password keeps working', async () => {
    const admin = await h.env.postgres.connect();
    await admin.query(`DELETE FROM credential_rotation.managed_role WHERE role_name = 'denied_app'`);
    await admin.end();

    const result = await h.rotate(h.newHost(), 'denied-db');

    expect(result.status.runtimeStatus).toBe('Failed');
    expect(result.custom.error).toMatchObject({ code: 'permission-denied', stage: 'apply', retryable: false });
    expect(result.custom.error?.message).toContain('setting the password of role denied_app failed: PostgreSQL 42501');
    expect(result.custom.stages.filter((s) => s.stage === 'apply')).toHaveLength(1);
    await expectCompensated('denied-db', 'denied_app')();
  });

  it('when verify keeps failing with a transient error, then the retry policy gives up after five attempts and the rotation is compensated', async () => {
    const base = h.deps.current;
    h.deps.current = {
      ...base,
      postgres: (c) => {
        const target = base.postgres(c);
        return Object.assign(Object.create(target), {
          probe: async () => {
            throw new RotationError({ code: 'postgres-unavailable', stage: 'verify', retryable: true, message: 'logging in as flaky_app failed: ECONNRESET' });
          },
        });
      },
    };
    try {
      const host = h.newHost();
      const result = await h.rotate(host, 'flaky-db');

      expect(result.status.runtimeStatus).toBe('Failed');
      expect(result.custom.error).toMatchObject({ code: 'retries-exhausted', stage: 'verify' });
      expect(result.custom.error?.message).toContain('ECONNRESET');
      const verifyAttempts = host.history(result.instanceId).filter((e) => e.EventType === 4 && e.Name === 'rotation-verify');
      expect(verifyAttempts).toHaveLength(5);
      await expectCompensated('flaky-db', 'flaky_app')();
    } finally {
      h.deps.current = base;
    }
  });

  it('when the server refuses the idle login after apply gave it the new password, then compensation still takes its password and LOGIN away (a login probe would have been refused too), and the live login keeps working', async () => {
    // Soak seeds 100343 and 100465: logins refused (28P01, at the wire) while verify ran.
    const proxy = await new PostgresFaultProxy({ host: h.env.postgres.host, port: h.env.postgres.port }).start();
    proxy.inject({ kind: 'login-refused', user: 'alt_refused_b', times: 100 });
    const base = h.deps.current;
    h.deps.current = { ...base, postgres: (c) => base.postgres({ ...c, postgres: { ...c.postgres, port: proxy.port } }) };
    const admin = await h.env.postgres.connect();
    try {
      const result = await h.rotate(h.newHost(), 'alt-refused-db');

      expect(result.status.runtimeStatus).toBe('Failed');
      expect(result.custom.error).toMatchObject({ code: 'verify-failed', stage: 'verify' });
      expect(result.custom.stages.at(-1)).toMatchObject({ stage: 'compensate', outcome: 'succeeded' });
      expect(proxy.applied.length).toBeGreaterThan(0);
      const { rows } = await admin.query(`SELECT rolcanlogin, rolpassword IS NULL AS no_password FROM pg_authid WHERE rolname = 'alt_refused_b'`);
      expect(rows[0]).toEqual({ rolcanlogin: false, no_password: true });
      await expectCompensated('alt-refused-db', 'alt_refused_a')();
    } finally {
      h.deps.current = base;
      await admin.end();
      await proxy.stop();
    }
  }, 120_000);
});
