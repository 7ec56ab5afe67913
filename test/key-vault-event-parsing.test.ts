import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load';
import { RotationError } from '../src/errors';
import { isStaleVersion, matchCredential, parseKeyVaultEvent, type ParsedKeyVaultEvent } from '../src/functions/key-vault-event';

const VERSION = 'ee059b2bb5bc48398a53b168c6cdcb10';
const OLDER_VERSION = '0123456789abcdef0123456789abcdef';
const EXP = 1_767_225_600; // 2026-01-01T00:00:00Z

const config = parseConfig({
  credentials: [
    {
      id: 'zep-db',
      postgres: { host: 'db.example', database: 'zep', role: 'zep_user', admin: { auth: 'entra', user: 'rotator-mi' } },
      keyVault: { url: 'https://ctxecokv.vault.azure.net', secret: 'zep-db-password', derived: [{ secret: 'database-url', template: 'postgresql://{user}:{password}@{host}/{database}' }] },
    },
    {
      id: 'gov-db',
      postgres: { host: 'db.example', database: 'gov', role: 'gov_user', admin: { auth: 'entra', user: 'rotator-mi' } },
      keyVault: { url: 'https://govkv.vault.usgovcloudapi.net', secret: 'gov-db-password' },
    },
    {
      id: 'local-db',
      postgres: { host: '127.0.0.1', database: 'app', role: 'app_user', admin: { auth: 'entra', user: 'rotator-mi' } },
      keyVault: { url: 'https://127.0.0.1:8443', secret: 'app-db-password' },
    },
  ],
});

type Data = Record<string, unknown>;

/** Key Vault's own spelling, as it arrives over the wire. */
function pascalData(overrides: Data = {}): Data {
  return { Id: `https://ctxecokv.vault.azure.net/secrets/zep-db-password/${VERSION}`, VaultName: 'ctxecokv', ObjectType: 'Secret', ObjectName: 'zep-db-password', Version: VERSION, NBF: EXP - 90 * 86_400, EXP: EXP, ...overrides };
}

/** The documentation's spelling. */
function camelData(overrides: Data = {}): Data {
  return { id: `https://ctxecokv.vault.azure.net/secrets/zep-db-password/${VERSION}`, vaultName: 'ctxecokv', objectType: 'Secret', objectName: 'zep-db-password', version: VERSION, nbf: EXP - 90 * 86_400, exp: EXP, ...overrides };
}

function gridEvent(data: Data, eventType = 'Microsoft.KeyVault.SecretNearExpiry'): Data {
  return { id: 'eg-1', topic: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/ctxecokv', subject: String(data.ObjectName ?? data.objectName), eventType, eventTime: '2025-12-02T00:00:00Z', data, dataVersion: '1', metadataVersion: '1' };
}

function cloudEvent(data: Data, type = 'Microsoft.KeyVault.SecretNearExpiry'): Data {
  return { specversion: '1.0', id: 'ce-1', source: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/ctxecokv', subject: 'zep-db-password', type, time: '2025-12-02T00:00:00Z', data };
}

function malformed(raw: unknown): RotationError {
  try {
    parseKeyVaultEvent(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(RotationError);
    expect((error as RotationError).code).toBe('malformed-event');
    expect((error as RotationError).retryable).toBe(false);
    return error as RotationError;
  }
  throw new Error('expected the event to be rejected as malformed');
}

function ignoredBecause(event: ParsedKeyVaultEvent): string {
  const decision = matchCredential(event, config);
  if (decision.action !== 'ignore') throw new Error(`expected the event to be ignored, got ${decision.action} of ${decision.credential.id}`);
  return decision.reason;
}

describe('parsing Key Vault events', () => {
  it.each([
    ['the Event Grid schema with PascalCase data', gridEvent(pascalData()), 'eg-1'],
    ['the Event Grid schema with camelCase data', gridEvent(camelData()), 'eg-1'],
    ['CloudEvents 1.0 with PascalCase data', cloudEvent(pascalData()), 'ce-1'],
    ['CloudEvents 1.0 with camelCase data', cloudEvent(camelData()), 'ce-1'],
  ])('when a near-expiry event arrives in %s, then every field is read', (_name, raw, eventId) => {
    expect(parseKeyVaultEvent(raw)).toEqual({
      kind: 'near-expiry',
      eventId,
      eventType: 'Microsoft.KeyVault.SecretNearExpiry',
      vaultName: 'ctxecokv',
      secretName: 'zep-db-password',
      version: VERSION,
      objectType: 'Secret',
      expiresAt: new Date('2026-01-01T00:00:00Z'),
      secretId: `https://ctxecokv.vault.azure.net/secrets/zep-db-password/${VERSION}`,
    });
  });

  it('when the event is SecretExpired, then its kind is expired; a new version or a key event is other', () => {
    expect(parseKeyVaultEvent(gridEvent(pascalData(), 'Microsoft.KeyVault.SecretExpired')).kind).toBe('expired');
    expect(parseKeyVaultEvent(cloudEvent(camelData(), 'Microsoft.KeyVault.SecretExpired')).kind).toBe('expired');
    const created = parseKeyVaultEvent(gridEvent(pascalData(), 'Microsoft.KeyVault.SecretNewVersionCreated'));
    expect(created).toMatchObject({ kind: 'other', eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', secretName: 'zep-db-password', version: VERSION });
    const key = parseKeyVaultEvent(cloudEvent(pascalData({ ObjectType: 'Key' }), 'Microsoft.KeyVault.KeyNearExpiry'));
    expect(key).toMatchObject({ kind: 'other', objectType: 'Key' });
  });

  it('when EXP is null, a quoted number as in the documentation samples, or absent, then the expiry follows it', () => {
    expect(parseKeyVaultEvent(gridEvent(pascalData({ EXP: null }))).expiresAt).toBeUndefined();
    expect(parseKeyVaultEvent(gridEvent(pascalData({ EXP: String(EXP) }))).expiresAt).toEqual(new Date(EXP * 1000));
    const { EXP: _omitted, ...withoutExp } = pascalData();
    expect(parseKeyVaultEvent(gridEvent(withoutExp)).expiresAt).toBeUndefined();
  });

  it('when an event other than a secret expiry has no data, then it still parses as other', () => {
    const raw = { id: 'p-1', eventType: 'Microsoft.KeyVault.VaultAccessPolicyChanged', subject: 'ctxecokv', eventTime: '2025-12-02T00:00:00Z', dataVersion: '1' };
    expect(parseKeyVaultEvent(raw)).toEqual({ kind: 'other', eventId: 'p-1', eventType: 'Microsoft.KeyVault.VaultAccessPolicyChanged' });
  });
});

describe('rejecting malformed Key Vault events', () => {
  it.each([
    ['a string instead of an event', 'not an event', 'the event must be a JSON object'],
    ['an array instead of one event', [gridEvent(pascalData())], 'the event must be a JSON object, not an array'],
    ['no eventType nor type', { id: 'x', subject: 's', data: pascalData() }, 'the event type is missing'],
    ['an empty eventType', { ...gridEvent(pascalData()), eventType: '' }, 'eventType is missing'],
    ['a CloudEvent without type', { ...cloudEvent(pascalData()), type: undefined }, 'the event type is missing'],
    ['a CloudEvent of another specversion', { ...cloudEvent(pascalData()), specversion: '0.3' }, 'specversion must be "1.0"'],
    ['no id', { ...gridEvent(pascalData()), id: undefined }, 'id is missing'],
    ['a secret event without data', { ...gridEvent(pascalData()), data: undefined }, 'data must be a JSON object'],
    ['no VaultName', gridEvent(pascalData({ VaultName: undefined })), 'data.VaultName is missing'],
    ['an invalid VaultName', gridEvent(pascalData({ VaultName: 'kv--x' })), 'data.VaultName "kv--x" is not a Key Vault name'],
    ['no ObjectName', cloudEvent(camelData({ objectName: undefined })), 'data.ObjectName is missing'],
    ['a numeric ObjectName', gridEvent(pascalData({ ObjectName: 42 })), 'data.ObjectName must be a string'],
    ['an ObjectName with a slash', gridEvent(pascalData({ ObjectName: 'a/b' })), 'data.ObjectName "a/b" is not a Key Vault secret name'],
    ['no Version', gridEvent(pascalData({ Version: '' })), 'data.Version is missing'],
    ['a Version that is not 32 hex digits', gridEvent(pascalData({ Version: 'latest' })), 'data.Version "latest" is not a Key Vault version'],
    ['an ObjectType other than Secret on a secret event', gridEvent(pascalData({ ObjectType: 'Certificate' })), 'data.ObjectType is "Certificate"'],
    ['no ObjectType', gridEvent(pascalData({ ObjectType: undefined })), 'data.ObjectType is missing'],
    ['an EXP that is not a number', gridEvent(pascalData({ EXP: 'soon' })), 'data.EXP must be Unix seconds'],
  ])('when the event has %s, then it is rejected naming the field', (_name, raw, message) => {
    const error = malformed(raw);
    expect(error.message).toContain(message);
    expect(error.stage).toBe('key-vault-event');
  });
});

describe('matching an event to a credential', () => {
  it('when the live secret of a configured credential nears expiry, then that credential rotates, names compared case-insensitively', () => {
    const decision = matchCredential(parseKeyVaultEvent(gridEvent(pascalData({ VaultName: 'CtxEcoKV', ObjectName: 'Zep-DB-Password' }))), config);
    expect(decision).toMatchObject({ action: 'rotate', rotationReason: 'near-expiry', credential: { id: 'zep-db' } });
    const expired = matchCredential(parseKeyVaultEvent(cloudEvent(camelData(), 'Microsoft.KeyVault.SecretExpired')), config);
    expect(expired).toMatchObject({ action: 'rotate', rotationReason: 'expired', credential: { id: 'zep-db' } });
  });

  it('when the vault lives in another Azure cloud, then its host name\'s first label still matches', () => {
    const raw = gridEvent(pascalData({ VaultName: 'govkv', ObjectName: 'gov-db-password', Id: undefined }));
    expect(matchCredential(parseKeyVaultEvent(raw), config)).toMatchObject({ action: 'rotate', credential: { id: 'gov-db' } });
  });

  it('when the vault is reached at another address (the local emulator), then the Id URL matches it', () => {
    const raw = cloudEvent(camelData({ vaultName: 'localkv', objectName: 'app-db-password', id: `https://127.0.0.1:8443/secrets/app-db-password/${VERSION}` }));
    expect(matchCredential(parseKeyVaultEvent(raw), config)).toMatchObject({ action: 'rotate', credential: { id: 'local-db' } });
    const elsewhere = cloudEvent(camelData({ vaultName: 'localkv', objectName: 'app-db-password', id: `https://127.0.0.1:9443/secrets/app-db-password/${VERSION}` }));
    expect(ignoredBecause(parseKeyVaultEvent(elsewhere))).toBe('no credential uses vault localkv');
  });

  it('when the secret is the rotator\'s own pending secret, then it is ignored saying so', () => {
    const reason = ignoredBecause(parseKeyVaultEvent(gridEvent(pascalData({ ObjectName: 'zep-db-password-PENDING' }))));
    expect(reason).toBe('zep-db-password-PENDING is the pending secret of credential "zep-db", written by the rotator itself');
  });

  it('when the secret is a derived secret, then it is ignored naming the secret it is derived from', () => {
    const reason = ignoredBecause(parseKeyVaultEvent(gridEvent(pascalData({ ObjectName: 'database-url' }), 'Microsoft.KeyVault.SecretExpired')));
    expect(reason).toBe('database-url is a derived secret of credential "zep-db"; it is rewritten when zep-db-password rotates');
  });

  it('when no credential names the secret or the vault, then it is ignored with a one-line reason', () => {
    expect(ignoredBecause(parseKeyVaultEvent(gridEvent(pascalData({ ObjectName: 'github-token' }))))).toBe('no credential names secret github-token in vault ctxecokv');
    expect(ignoredBecause(parseKeyVaultEvent(gridEvent(pascalData({ VaultName: 'otherkv', Id: undefined }))))).toBe('no credential uses vault otherkv');
  });

  it('when the event is not a secret expiry (a new version, a certificate), then it is ignored naming its type', () => {
    const reasons = [
      ignoredBecause(parseKeyVaultEvent(gridEvent(pascalData(), 'Microsoft.KeyVault.SecretNewVersionCreated'))),
      ignoredBecause(parseKeyVaultEvent(cloudEvent(pascalData({ ObjectType: 'Certificate' }), 'Microsoft.KeyVault.CertificateNearExpiry'))),
    ];
    expect(reasons).toEqual([
      'event type Microsoft.KeyVault.SecretNewVersionCreated does not call for a rotation',
      'event type Microsoft.KeyVault.CertificateNearExpiry does not call for a rotation',
    ]);
    for (const reason of reasons) expect(reason).not.toContain('\n');
  });
});

describe('detecting an event about a version that is no longer live', () => {
  const event = parseKeyVaultEvent(gridEvent(pascalData({ Version: OLDER_VERSION })));

  it('when the live version differs from the event\'s, then the event is stale', () => {
    expect(isStaleVersion(event, VERSION)).toBe(true);
  });

  it('when the live version is the event\'s (in any letter case), then it is not stale', () => {
    expect(isStaleVersion(event, OLDER_VERSION)).toBe(false);
    expect(isStaleVersion(event, OLDER_VERSION.toUpperCase())).toBe(false);
  });

  it('when the secret has no live version any more, then every event about it is stale', () => {
    expect(isStaleVersion(event, undefined)).toBe(true);
  });
});
