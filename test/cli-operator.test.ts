import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli';
import { secretNameFor, startLocalEnvironment, type LocalEnvironment } from '../src/local/environment';

/**
 * The operator's commands against the local environment: the CLI's own durable host (on a
 * virtual clock), the environment's adapters in place of the operator's Azure identity.
 */

let env: LocalEnvironment;
let dir: string;

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (l) => out.push(l), (l) => err.push(l), {}, { config: env.config, compose: () => env.deps, clock: 'virtual' });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function asSuperuser(sql: string): Promise<void> {
  const client = await env.postgres.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  env = await startLocalEnvironment([
    { id: 'orders', role: 'orders_app' },
    { id: 'healing', role: 'healing_app', overrides: { repair: 'rotate' } },
  ]);
  dir = mkdtempSync(join(tmpdir(), 'rotator-cli-'));
}, 120_000);

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await env?.stop();
});

describe('the rotator command for operators', () => {
  it('when --help is given to any command, then it describes that command and exits 0; the overview lists every command and the exit codes', async () => {
    for (const command of ['validate', 'status', 'rotate', 'propagate', 'check', 'preflight', 'env', 'adopt']) {
      const help = await run(command, '--help');
      expect(help.code).toBe(0);
      expect(help.out).toMatch(new RegExp(`^rotator ${command}`));
    }
    const overview = await run('--help');
    expect(overview.code).toBe(0);
    expect(overview.out).toContain('exit codes: 0 success');
  });

  it('when the arguments are wrong, then the error names the problem and the exit code is 2', async () => {
    expect(await run('env', 'orders')).toMatchObject({ code: 2, err: expect.stringContaining('--write is required') });
    expect(await run('status', '--output', 'xml')).toMatchObject({ code: 2, err: expect.stringContaining('--output must be table or json') });
    expect(await run('frobnicate')).toMatchObject({ code: 2, err: expect.stringContaining('unknown command "frobnicate"') });
    expect(await run('status', 'nope')).toMatchObject({ code: 2, err: expect.stringContaining('no credential with id "nope"') });
  });

  it('when status is asked, then each credential shows its live version, age, expiry, next due date, health and last result, as a table or JSON', async () => {
    const table = await run('status');
    expect(table.code).toBe(0);
    expect(table.out.split('\n')[0]).toMatch(/^credential\s+live\s+age\s+expires\s+next due\s+health\s+last result$/);
    expect(table.out).toMatch(/orders\s+[0-9a-f]{8}\s+0 d\s+\d{4}-\d{2}-\d{2}\s+\d{4}-\d{2}-\d{2}\s+not checked\s+never rotated by this service/);
    const json = JSON.parse((await run('status', 'orders', '--output', 'json')).out);
    expect(json.credentials).toEqual([expect.objectContaining({ id: 'orders', liveVersion: env.vault.versions(secretNameFor('orders')).at(-1)!.version, health: null })]);
  });

  it('when rotate runs, then it prints a line per stage with its duration as the stages end, and exits 0', async () => {
    const result = await run('rotate', 'orders');
    expect(result.code).toBe(0);
    const stages = result.out.split('\n').filter((l) => /^  \w+\s+(succeeded|skipped)\s+\d+(\.\d)? (ms|s|min)/.test(l)).map((l) => l.trim().split(/\s+/)[0]);
    // No consumers: no propagate or confirm stage.
    expect(stages).toEqual(['begin', 'stage', 'apply', 'verify', 'promote', 'grace', 'retire']);
    expect(result.out).toMatch(/^rotation \S+: succeeded$/m);
    expect((await run('status', 'orders')).out).toMatch(/orders.*succeeded$/m);
  });

  it('when check finds a password changed behind Key Vault on a credential with repair: rotate, then it repairs it, checks again and exits 0', async () => {
    await asSuperuser(`ALTER ROLE healing_app PASSWORD 'changed-by-hand-000000000000000000'`);
    const result = await run('check', 'healing');
    expect(result.out).toContain('healing: drifted');
    expect(result.out).toMatch(/critical\s+live-login-refused/);
    expect(result.out).toContain('repair: rotation started');
    expect(result.out).toMatch(/healing: after the \S+ \(succeeded\): healthy/);
    expect(result.code).toBe(0);
    expect(await env.login('healing_app', env.vault.currentValue(secretNameFor('healing'))!)).toBe('accepted');
  });

  it('when check finds a drift it may not repair, then it says so and exits 1', async () => {
    await asSuperuser(`ALTER ROLE orders_app PASSWORD 'changed-by-hand-000000000000000000'`);
    const result = await run('check', 'orders', '--output', 'json');
    expect(result.code).toBe(1);
    const [outcome] = JSON.parse(result.out).credentials;
    expect(outcome).toMatchObject({ credentialId: 'orders', report: { health: 'drifted' }, plan: { kind: 'none' } });
    await asSuperuser(`ALTER ROLE orders_app PASSWORD '${env.vault.currentValue(secretNameFor('orders'))}'`);
  });

  it('when preflight passes, then it exits 0; when a permission is missing, then the table shows ✗ with the fix and it exits 1', async () => {
    const ok = await run('preflight', 'orders', '--output', 'json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ passed: true });
    env.containerApps.addPrincipal({ token: env.serviceToken, actions: [], dataActions: ['Microsoft.KeyVault/vaults/secrets/getSecret/action'] });
    const missing = await run('preflight', 'orders');
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/✗\s+orders\s+Key Vault\s+secrets set\s+not granted: Microsoft.KeyVault\/vaults\/secrets\/setSecret\/action/);
    expect(missing.out).toContain('fix: assign the service identity the Key Vault secret rotator role (infra/app/key-vault-role.bicep) on the vault');
    expect(missing.out).toMatch(/✓\s+orders\s+Key Vault\s+secrets get/);
    expect(missing.out).toMatch(/^preflight: 4 of \d+ checks failed$/m);
  });

  it('when env --write names a file, then it holds the current connection string, mode 0600, and keeps the other lines', async () => {
    const file = join(dir, '.env');
    writeFileSync(file, 'OTHER=1\nDATABASE_URL=postgresql://stale\n', { mode: 0o644 });
    const result = await run('env', 'orders', '--write', file);
    expect(result.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = env.vault.currentValue(secretNameFor('orders'))!;
    const written = readFileSync(file, 'utf8');
    expect(written.startsWith(`OTHER=1\nDATABASE_URL=postgresql://orders_app:${encodeURIComponent(password)}@${env.postgres.host}:${env.postgres.port}/appdb?sslmode=`)).toBe(true);
    expect(written.split('\n')).toHaveLength(3);
    expect(result.out).not.toContain(password);
  });
});
