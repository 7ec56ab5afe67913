import { describe, expect, it } from 'vitest';
import { main } from '../src/cli';

const config = JSON.stringify({
  credentials: [
    {
      id: 'zep-db',
      postgres: { host: 'db.example', database: 'zep', role: 'zep_user', admin: { auth: 'entra', user: 'rotator-mi' } },
      keyVault: { url: 'https://kv.vault.azure.net', secret: 'zep-db-password' },
    },
  ],
});

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (l) => out.push(l), (l) => err.push(l));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('the rotator command', () => {
  it('when the configuration is valid, then validate lists each credential and exits 0', async () => {
    const result = await run('validate', '--config', config);
    expect(result.code).toBe(0);
    expect(result.out).toContain('zep-db: single-user, role zep_user on db.example/zep, secret zep-db-password');
    expect(result.out).toContain('configuration valid: 1 credential(s)');
  });

  it('when the configuration is broken, then validate names the credential and field and exits 2', async () => {
    const broken = config.replace('"zep_user"', '"Zep-User"');
    const result = await run('validate', '--config', broken);
    expect(result.code).toBe(2);
    expect(result.err).toContain('credential "zep-db": postgres.role must be a lower-case PostgreSQL identifier');
  });

  it('when rotate names an unknown credential or no command is given, then it refuses before touching any service', async () => {
    const unknown = await run('rotate', 'nope', '--config', config);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('no credential with id "nope"');
    const usage = await run();
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('usage: rotator');
  });
});
