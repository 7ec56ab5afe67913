import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../src/config/load';
import { RotationError } from '../src/errors';

const postgres = { host: 'db.example', database: 'zep', role: 'zep_user', admin: { auth: 'password', user: 'rotator', secret: 'pg-admin' } };
const base = { id: 'zep-db', postgres, keyVault: { url: 'https://kv.vault.azure.net', secret: 'zep-db-password' } };
const github = { auth: { auth: 'token', tokenSecret: 'github-token', vaultUrl: 'https://kv.vault.azure.net' } };

function withCredential(patch: Record<string, unknown>, top: Record<string, unknown> = {}) {
  return { ...top, credentials: [{ ...base, ...patch }] };
}

function rejection(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(RotationError);
    expect((error as RotationError).code).toBe('invalid-config');
    return (error as RotationError).message;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('configuration strictness', () => {
  it('when a key is misspelt anywhere, then it is refused naming where it is and the nearest known key', () => {
    expect(rejection(() => parseConfig({ ...withCredential({}), defaults: { graceMinute: 30 } }))).toBe('config: defaults has unknown key "graceMinute"; did you mean graceMinutes?');
    expect(rejection(() => parseConfig(withCredential({ graceMinute: 30 })))).toBe('config: credential "zep-db": has unknown key "graceMinute"; did you mean graceMinutes?');
    expect(rejection(() => parseConfig(withCredential({ postgres: { ...postgres, sll: 'disable' } })))).toBe('config: credential "zep-db": postgres has unknown key "sll"; did you mean ssl?');
    expect(rejection(() => parseConfig(withCredential({ postgres: { ...postgres, admin: { auth: 'entra', user: 'mi', secret: 'pg-admin' } } })))).toContain('postgres.admin has unknown key "secret"');
    expect(rejection(() => parseConfig({ ...withCredential({}), telemetry: true }))).toBe('config: (root) has unknown key "telemetry"');
  });

  it('when a JSON text gives a key twice, then it is refused naming the key and where; YAML too', () => {
    const json = JSON.stringify(withCredential({})).replace('"id":"zep-db"', '"id":"zep-db","id":"other-db"');
    expect(rejection(() => loadConfig(json))).toBe('config: credentials[0]: key "id" is given twice; JSON would silently keep the last one');
    const nested = JSON.stringify(withCredential({})).replace('"role":"zep_user"', '"role":"zep_user","role":"postgres"');
    expect(rejection(() => loadConfig(nested))).toContain('credentials[0].postgres: key "role" is given twice');
    expect(loadConfig(JSON.stringify(withCredential({ keyVault: { ...base.keyVault, derived: [{ secret: 'a', template: '{"id": "{user}", "id2": "x"}' }] } }))).credentials).toHaveLength(1);
    const dir = mkdtempSync(join(tmpdir(), 'rotator-config-'));
    const yaml = join(dir, 'rotation.yaml');
    writeFileSync(yaml, 'credentials:\n  - id: zep-db\n    id: other-db\n');
    expect(rejection(() => loadConfig(yaml))).toMatch(/not valid YAML: Map keys must be unique/);
  });

  it('when a GitHub name breaks GitHub\'s rules, then it is refused: an environment of "..", a repository path, a bad login, a GITHUB_ secret', () => {
    const target = (t: Record<string, unknown>) => withCredential({ consumers: { github: [{ secret: 'DB_PASSWORD', ...t }] } }, { github });
    expect(rejection(() => parseConfig(target({ repo: 'acme/api', environment: '..' })))).toContain('consumers.github.0.environment must be a GitHub environment name');
    expect(rejection(() => parseConfig(target({ repo: 'acme/api', environment: 'prod/../x' })))).toContain('environment must be a GitHub environment name');
    expect(rejection(() => parseConfig(target({ repo: 'acme/..' })))).toContain('consumers.github.0.repo must be owner/name');
    expect(rejection(() => parseConfig(target({ repo: '-acme/api' })))).toContain('repo must be owner/name');
    expect(rejection(() => parseConfig(target({ org: 'acme--x-' })))).toContain('org must be a GitHub organisation name');
    expect(rejection(() => parseConfig(target({ repo: 'acme/api', secret: 'GITHUB_DB' })))).toContain('secret must not start with GITHUB_');
    expect(parseConfig(target({ repo: 'acme-corp/api.v2', environment: 'Production EU' })).credentials[0].consumers.github[0]).toMatchObject({ environment: 'Production EU' });
  });

  it('when the host is not a host name or IP, or the database name holds control characters or is too long, then it is refused; sales#eu is a database name', () => {
    expect(rejection(() => parseConfig(withCredential({ postgres: { ...postgres, host: 'db.example/x?sslmode=disable' } })))).toContain('postgres.host must be a DNS host name or an IP address');
    expect(rejection(() => parseConfig(withCredential({ postgres: { ...postgres, host: 'db example' } })))).toContain('postgres.host');
    expect(rejection(() => parseConfig(withCredential({ postgres: { ...postgres, database: 'zep\n\\! id' } })))).toContain('postgres.database must not contain control characters');
    expect(rejection(() => parseConfig(withCredential({ postgres: { ...postgres, database: 'é'.repeat(32) } })))).toContain('postgres.database must be at most 63 bytes');
    const ok = parseConfig(withCredential({ postgres: { ...postgres, host: '2001:db8::7', database: 'sales#eu' } })).credentials[0].postgres;
    expect(ok).toMatchObject({ host: '2001:db8::7', database: 'sales#eu', consumerSslMode: 'verify-full' });
  });

  it('when ssl is disable, then only a loopback host with a password admin is accepted: never another host, never with Entra admin auth', () => {
    expect(rejection(() => parseConfig(withCredential({ postgres: { ...postgres, ssl: 'disable' } })))).toContain('postgres.ssl may be disable only for a loopback host, not db.example');
    const entra = { ...postgres, host: '127.0.0.1', ssl: 'disable', admin: { auth: 'entra', user: 'rotator-mi' } };
    expect(rejection(() => parseConfig(withCredential({ postgres: entra })))).toContain('postgres.ssl may not be disable with Entra admin auth');
    for (const host of ['127.0.0.1', 'localhost', '::1']) expect(parseConfig(withCredential({ postgres: { ...postgres, host, ssl: 'disable' } })).credentials[0].postgres.ssl).toBe('disable');
  });
});
