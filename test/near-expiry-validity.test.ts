import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load';
import { RotationError } from '../src/errors';

const credential = {
  id: 'zep-db',
  postgres: { host: 'db.example', database: 'zep', role: 'zep_user', admin: { auth: 'password', user: 'rotator', secret: 'pg-admin' } },
  keyVault: { url: 'https://kv.vault.azure.net', secret: 'zep-db-password' },
};

function refusal(config: unknown): RotationError {
  try {
    parseConfig(config);
  } catch (error) {
    expect(error).toBeInstanceOf(RotationError);
    return error as RotationError;
  }
  throw new Error('expected the configuration to be refused');
}

describe("validity against Key Vault's near-expiry notice", () => {
  it('when validityDays is 30 or less, then every new version would be near expiry at once and the configuration says so', () => {
    const error = refusal({ credentials: [{ ...credential, validityDays: 30 }] });
    expect(error.code).toBe('invalid-config');
    expect(error.message).toContain('credential "zep-db": validityDays 30 must be more than 44');
    expect(error.message).toContain('SecretNearExpiry');
    expect(error.message).toContain('each rotation would trigger the next');
  });

  it('when validityDays is within 30 days plus the expiry margin, then it is refused, from the defaults as from the credential', () => {
    expect(refusal({ defaults: { validityDays: 44 }, credentials: [credential] }).message).toContain('validityDays 44 must be more than 44 (Key Vault\'s 30-day SecretNearExpiry notice + expiryMarginDays 14)');
    expect(refusal({ credentials: [{ ...credential, validityDays: 50, expiryMarginDays: 20 }] }).message).toContain('validityDays 50 must be more than 50');
  });

  it('when validityDays leaves a day beyond the notice and the margin, then it is accepted', () => {
    expect(parseConfig({ credentials: [{ ...credential, validityDays: 45 }] }).credentials[0].validityDays).toBe(45);
    expect(parseConfig({ credentials: [{ ...credential, validityDays: 31, expiryMarginDays: 0 }] }).credentials[0].validityDays).toBe(31);
  });
});
