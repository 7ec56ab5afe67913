import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load';
import { RotationError } from '../src/errors';

const app = { subscription: '00000000-1111-2222-3333-444444444444', resourceGroup: 'rg-apps', app: 'orders-api' };
const urlTemplate = 'postgresql://{user}:{password}@{host}:{port}/{database}';

function config(credential: Record<string, unknown>) {
  return {
    credentials: [
      {
        id: 'orders-db',
        postgres: { host: 'db.example', database: 'orders', role: 'orders_app', admin: { auth: 'entra', user: 'rotator' } },
        keyVault: { url: 'https://kv.vault.azure.net', secret: 'orders-db-password', derived: [{ secret: 'orders-db-url', template: urlTemplate }, { secret: 'orders-db-pass', template: '{password}' }] },
        ...credential,
      },
    ],
  };
}

const alternating = {
  strategy: 'alternating-users',
  postgres: { host: 'db.example', database: 'orders', roles: ['orders_a', 'orders_b'], group: 'orders', admin: { auth: 'entra', user: 'rotator' } },
  keyVault: { url: 'https://kv.vault.azure.net', secret: 'orders-db-password', derived: [{ secret: 'orders-db-url', template: urlTemplate }] },
};

function refusal(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(RotationError);
    return (error as RotationError).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('Container App consumers in the configuration', () => {
  it('when an app maps its secret to the live secret, then it defaults to the key-vault-reference mode', () => {
    const parsed = parseConfig(config({ consumers: { containerApps: [{ ...app, secrets: [{ name: 'db-password', keyVaultSecret: 'orders-db-password' }] }] } }));
    expect(parsed.credentials[0].consumers.containerApps[0]).toEqual({ ...app, mode: 'key-vault-reference', secrets: [{ name: 'db-password', keyVaultSecret: 'orders-db-password' }] });
  });

  it('when an app maps no secret, then the error says to map one or to choose restart-only', () => {
    expect(refusal(config({ consumers: { containerApps: [app] } }))).toContain('consumers.containerApps.0.secrets must map at least one app secret');
    expect(parseConfig(config({ consumers: { containerApps: [{ ...app, mode: 'restart-only' }] } })).credentials[0].consumers.containerApps[0].secrets).toEqual([]);
  });

  it('when a restart-only app also maps secrets, then it is refused: the rotator would not touch them', () => {
    expect(refusal(config({ consumers: { containerApps: [{ ...app, mode: 'restart-only', secrets: [{ name: 'db-password', keyVaultSecret: 'orders-db-password' }] }] } }))).toContain('applies to mode key-vault-reference only');
  });

  it('when a mapping names a Key Vault secret the credential does not write, or an app secret twice, then each is named', () => {
    const message = refusal(
      config({
        consumers: {
          containerApps: [
            {
              ...app,
              secrets: [
                { name: 'db-password', keyVaultSecret: 'someone-elses-secret' },
                { name: 'db-password', keyVaultSecret: 'orders-db-password' },
              ],
            },
          ],
        },
      }),
    );
    expect(message).toContain('secrets.0.keyVaultSecret must be the live secret orders-db-password or a derived secret');
    expect(message).toContain('secrets.1.name is mapped twice');
  });

  it('when an app secret name is not one ARM accepts, then it is refused', () => {
    expect(refusal(config({ consumers: { containerApps: [{ ...app, secrets: [{ name: 'DB_PASSWORD', keyVaultSecret: 'orders-db-password' }] }] } }))).toContain('must be a Container App secret name');
  });

  it('when alternating users map only the password, then it is refused: the app would keep the old login', () => {
    const passwordOnly = { consumers: { containerApps: [{ ...app, secrets: [{ name: 'db-password', keyVaultSecret: 'orders-db-password' }] }] } };
    expect(refusal(config({ ...alternating, ...passwordOnly }))).toContain('map a derived secret whose template carries {user}');
    const withUser = { consumers: { containerApps: [{ ...app, secrets: [{ name: 'database-url', keyVaultSecret: 'orders-db-url' }] }] } };
    expect(parseConfig(config({ ...alternating, ...withUser })).credentials[0].consumers.containerApps).toHaveLength(1);
  });
});
