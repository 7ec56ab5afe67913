import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROTATOR_ROLE } from '../src/local/environment';
import { generatePassword, scramSha256Verifier } from '../src/rotation/password';
import { startHarness, type Harness } from './support/harness';

const ADMIN_SECRET = 'pg-rotator-admin';

/**
 * The worker remembers the admin login's password for a few minutes rather than reading it
 * from Key Vault for every admin session. When an operator rotates that password, the
 * remembered one stops working at once: the server's refusal makes the worker read it again.
 */
describe('what a worker remembers of Key Vault', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'before-db', role: 'before_app' },
      { id: 'after-db', role: 'after_app' },
    ]);
  });
  afterAll(() => h?.stop());

  const adminReads = () => h.env.vault.requests.filter((r) => r.method === 'GET' && r.status === 200 && r.path.startsWith(`/secrets/${ADMIN_SECRET}/`)).length;

  it('when the admin password is rotated behind the remembered one, then the next admin session is refused once, reads it again and the rotation succeeds', async () => {
    expect((await h.rotate(h.newHost(), 'before-db')).custom.outcome).toBe('succeeded');
    const readsBefore = adminReads();
    expect(readsBefore).toBeGreaterThanOrEqual(1);

    const password = generatePassword(32);
    h.env.vault.seed(ADMIN_SECRET, password);
    const admin = await h.env.postgres.connect();
    try {
      await admin.query(`ALTER ROLE ${admin.escapeIdentifier(ROTATOR_ROLE)} PASSWORD ${admin.escapeLiteral(await scramSha256Verifier(password))}`);
    } finally {
      await admin.end();
    }

    const result = await h.rotate(h.newHost(), 'after-db');
    expect(result.custom.outcome).toBe('succeeded');
    expect(adminReads()).toBe(readsBefore + 1);
    expect(await h.login('after_app', h.liveValue('after-db'))).toBe('accepted');
  });
});
