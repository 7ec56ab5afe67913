import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCredential, loadConfig, parseConfig } from '../src/config/load';
import { RotationError } from '../src/errors';

const valid = {
  credentials: [
    {
      id: 'zep-db',
      postgres: { host: 'db.example', database: 'zep', role: 'zep_user', admin: { auth: 'password', user: 'rotator', secret: 'pg-admin' } },
      keyVault: { url: 'https://kv.vault.azure.net', secret: 'zep-db-password' },
    },
  ],
};

function withCredential(patch: Record<string, unknown>) {
  return { credentials: [{ ...valid.credentials[0], ...patch }] };
}

function errorOf(work: () => unknown): RotationError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(RotationError);
    return error as RotationError;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('when a credential omits tuning, then the defaults apply (90-day rotation, 120-day validity, 32 characters)', () => {
    const config = parseConfig(valid);
    const c = findCredential(config, 'zep-db');
    expect(c).toMatchObject({ strategy: 'single-user', rotationDays: 90, validityDays: 120, graceMinutes: 15, password: { length: 32 } });
    expect(c.postgres).toMatchObject({ port: 5432, ssl: 'require' });
  });

  it('when a role name needs quoting to be safe, then the configuration is rejected naming the credential and field', () => {
    const error = errorOf(() => parseConfig(withCredential({ postgres: { ...valid.credentials[0].postgres, role: 'zep"; DROP ROLE x; --' } })));
    expect(error.code).toBe('invalid-config');
    expect(error.message).toContain('credential "zep-db"');
    expect(error.message).toContain('postgres.role');
  });

  it('when single-user has no role, or alternating-users lacks its pair and group, then each missing field is named', () => {
    const { role: _role, ...postgres } = valid.credentials[0].postgres;
    expect(errorOf(() => parseConfig(withCredential({ postgres }))).message).toContain('postgres.role is required for the single-user strategy');
    const alternating = errorOf(() => parseConfig(withCredential({ strategy: 'alternating-users', postgres })));
    expect(alternating.message).toContain('postgres.roles');
    expect(alternating.message).toContain('postgres.group');
  });

  it('when the vault URL is not https or the secret name is not a Key Vault name, then both are reported', () => {
    const error = errorOf(() => parseConfig(withCredential({ keyVault: { url: 'http://kv.vault.azure.net', secret: 'bad_name' } })));
    expect(error.message).toContain('keyVault.url must be an https:// URL');
    expect(error.message).toContain('keyVault.secret must be a Key Vault secret name');
  });

  it('when two credentials share an id or a secret, then the duplicate is rejected', () => {
    const twice = { credentials: [valid.credentials[0], { ...valid.credentials[0] }] };
    expect(errorOf(() => parseConfig(twice)).message).toContain('id is used twice');
    const shared = { credentials: [valid.credentials[0], { ...valid.credentials[0], id: 'other' }] };
    expect(errorOf(() => parseConfig(shared)).message).toContain('also used by credential "zep-db"');
  });

  it('when the password length is below 32, then it is refused', () => {
    expect(errorOf(() => parseConfig(withCredential({ password: { length: 16 } }))).message).toContain('password.length');
  });

  it('when the setting is inline JSON, a YAML file or a JSON file, then each loads; a missing file and broken YAML name the problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rotator-config-'));
    const yamlPath = join(dir, 'rotation.yaml');
    writeFileSync(yamlPath, 'credentials:\n  - id: zep-db\n    postgres: { host: db, database: zep, role: zep_user, admin: { auth: entra, user: rotator-mi } }\n    keyVault: { url: "https://kv.vault.azure.net", secret: zep-db-password }\n');
    const jsonPath = join(dir, 'rotation.json');
    writeFileSync(jsonPath, JSON.stringify(valid));
    expect(loadConfig(JSON.stringify(valid)).credentials[0].id).toBe('zep-db');
    expect(loadConfig(yamlPath).credentials[0].postgres.admin).toEqual({ auth: 'entra', user: 'rotator-mi' });
    expect(loadConfig(jsonPath).credentials).toHaveLength(1);
    expect(errorOf(() => loadConfig(join(dir, 'missing.yaml'))).message).toContain('cannot read the configuration file');
    writeFileSync(yamlPath, 'credentials: [ {');
    expect(errorOf(() => loadConfig(yamlPath)).message).toContain('not valid YAML');
    expect(errorOf(() => loadConfig(undefined)).message).toContain('ROTATOR_CONFIG is not set');
  });

  it('when a credential id is unknown, then the error names it', () => {
    const error = errorOf(() => findCredential(parseConfig(valid), 'nope', 'begin'));
    expect(error).toMatchObject({ code: 'unknown-credential', stage: 'begin' });
    expect(error.message).toContain('"nope"');
  });
});
