import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROTATOR_ROLE, secretNameFor } from '../src/local/environment';
import { startHarness, storedVerifier, type Harness } from './support/harness';

/** `2026-11-23 12:16:02.462 UTC [4669] user@db LOG:  statement: ...` → epoch ms */
function logTime(line: string): number {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}\.\d{3}) UTC/.exec(line);
  if (!match) throw new Error(`no timestamp in server log line: ${line.slice(0, 40)}`);
  return Date.parse(`${match[1]}T${match[2]}Z`);
}

/** Password changes the rotator sent (the log prefix is `%m [%p] %u@%d`; the role is a bound parameter, not logged). */
function setPasswordLines(h: Harness): string[] {
  return h.env.postgres.serverLog.filter((l) => l.includes(` ${ROTATOR_ROLE}@`) && l.includes('credential_rotation.set_password('));
}

describe('invariant 1: a password reaches PostgreSQL only after it is stored in Key Vault', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'ordered-db', role: 'ordered_app' },
      { id: 'refused-db', role: 'refused_app' },
    ]);
  });
  afterAll(() => h?.stop());

  it('when a rotation applies, then the pending secret was stored before the password change reached the server, and it is that password the role now has', async () => {
    const stored: { at: number; value: string }[] = [];
    const pendingName = `${secretNameFor('ordered-db')}-pending`;
    const unsubscribe = h.env.vault.onRequest((e) => {
      if (e.operation === 'setSecret' && e.secretName === pendingName && e.status === 200) stored.push({ at: e.at.getTime(), value: h.env.vault.currentValue(pendingName)! });
    });
    const verifierBefore = await storedVerifier(h.env, 'ordered_app');
    const sentBefore = setPasswordLines(h).length;

    const result = await h.rotate(h.newHost(), 'ordered-db');
    unsubscribe();

    expect(result.custom.outcome).toBe('succeeded');
    expect(stored).toHaveLength(1);
    const alters = setPasswordLines(h).slice(sentBefore);
    expect(alters).toHaveLength(1);
    expect(logTime(alters[0])).toBeGreaterThanOrEqual(stored[0].at);
    expect(await storedVerifier(h.env, 'ordered_app')).not.toBe(verifierBefore);
    expect(await h.login('ordered_app', stored[0].value)).toBe('accepted');
    expect(h.liveValue('ordered-db')).toBe(stored[0].value);
  });

  it('when Key Vault refuses the pending write, then no password change is ever sent, the old password still works, and the rotation fails fast naming the cause', async () => {
    h.env.vault.grant(h.env.serviceToken, ['get', 'list', 'delete', 'recover']);
    const verifierBefore = await storedVerifier(h.env, 'refused_app');
    const pendingName = `${secretNameFor('refused-db')}-pending`;
    const sentBefore = setPasswordLines(h).length;
    try {
      const result = await h.rotate(h.newHost(), 'refused-db');

      expect(result.status.runtimeStatus).toBe('Failed');
      expect(result.custom.error).toMatchObject({ code: 'key-vault-forbidden', stage: 'stage', status: 403 });
      expect(result.custom.error?.message).toContain(`writing secret ${pendingName} failed: Key Vault 403`);
      expect(result.custom.error?.message).toContain('does not have secrets set permission');
      const attempts = h.env.vault.requests.filter((r) => r.method === 'PUT' && r.path.includes(pendingName) && r.headers.authorization);
      expect(attempts).toHaveLength(1);
      expect(setPasswordLines(h).slice(sentBefore)).toEqual([]);
      expect(await storedVerifier(h.env, 'refused_app')).toBe(verifierBefore);
      expect(await h.login('refused_app', h.env.initialPasswords.get('refused-db')!)).toBe('accepted');
    } finally {
      h.env.vault.grant(h.env.serviceToken, ['get', 'list', 'set', 'delete', 'recover']);
    }
  });
});
