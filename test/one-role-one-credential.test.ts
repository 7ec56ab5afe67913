import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load';
import { RotationError } from '../src/errors';

const admin = { auth: 'password', user: 'rotator', secret: 'pg-admin' };

function single(id: string, host: string, role: string, port?: number) {
  return { id, postgres: { host, ...(port ? { port } : {}), database: 'app', role, admin }, keyVault: { url: 'https://kv.vault.azure.net', secret: `${id}-password` } };
}

function alternating(id: string, host: string, roles: [string, string], group: string) {
  return { id, strategy: 'alternating-users', postgres: { host, database: 'app', roles, group, admin }, keyVault: { url: 'https://kv.vault.azure.net', secret: `${id}-password` }, consumers: { github: [] } };
}

function refusal(config: unknown): RotationError {
  try {
    parseConfig(config);
  } catch (error) {
    expect(error).toBeInstanceOf(RotationError);
    return error as RotationError;
  }
  throw new Error('expected the configuration to be refused');
}

describe('one role, one credential', () => {
  it('when two credentials name the same login on the same server, written in different case and with the default port spelled out, then both are named', () => {
    const error = refusal({ credentials: [single('zep-db', 'DB.Example.com', 'zep_user'), single('zep-copy', 'db.example.com', 'zep_user', 5432)] });
    expect(error.code).toBe('invalid-config');
    expect(error.message).toContain('credentials "zep-db" and "zep-copy" both name role zep_user on server db.example.com:5432');
  });

  it('when an alternating credential shares a login or its group with another credential on the server, then both are named', () => {
    const login = refusal({ credentials: [single('one', 'db.example.com', 'app_b'), alternating('two', 'db.example.com', ['app_a', 'app_b'], 'app')] });
    expect(login.message).toContain('credentials "one" and "two" both name role app_b');
    const group = refusal({ credentials: [alternating('one', 'db.example.com', ['x_a', 'x_b'], 'shared'), alternating('two', 'db.example.com', ['y_a', 'y_b'], 'shared')] });
    expect(group.message).toContain('credentials "one" and "two" both name role shared');
  });

  it('when the same role name lives on two different servers or ports, then both credentials are accepted', () => {
    const config = parseConfig({ credentials: [single('a', 'db1.example.com', 'zep_user'), single('b', 'db2.example.com', 'zep_user'), single('c', 'db1.example.com', 'zep_user', 6432)] });
    expect(config.credentials.map((c) => c.id)).toEqual(['a', 'b', 'c']);
  });
});
