import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../src/config/load';
import { RotationError } from '../src/errors';
import { PASSWORD_ALPHABET } from '../src/rotation/password';
import { databaseUrlTemplate, renderConsumerValue, renderTemplate, validateTemplate, type TemplateFields } from '../src/rotation/templates';

// Every character the generator draws from, then reserved ones a URI would misread.
const PASSWORD = `${PASSWORD_ALPHABET}@:/?#%+ `;
const FIELDS: TemplateFields = { user: 'zep_user', password: PASSWORD, host: 'ctxeco-db.postgres.database.azure.com', port: 5432, database: 'zep', sslmode: 'verify-full' };
const DATABASE_URL_TEMPLATE = databaseUrlTemplate('verify-full');

function credential(patch: { derived?: Array<{ secret: string; template: string }>; github?: Array<Record<string, unknown>> } = {}) {
  return {
    github: { auth: { auth: 'token', tokenSecret: 'github-token', vaultUrl: 'https://kv.vault.azure.net' } },
    credentials: [
      {
        id: 'zep-db',
        postgres: { host: 'db.example', database: 'zep', role: 'zep_user', admin: { auth: 'entra', user: 'rotator-mi' } },
        keyVault: { url: 'https://kv.vault.azure.net', secret: 'zep-db-password', derived: patch.derived ?? [] },
        consumers: { github: patch.github ?? [] },
      },
    ],
  };
}

function configError(raw: unknown): RotationError {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(RotationError);
    return error as RotationError;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('rendering derived values', () => {
  it('when the format is database-url, then user and password are percent-encoded and a URL parser gives them back exactly', () => {
    const rendered = renderConsumerValue('database-url', FIELDS, []);
    const url = new URL(rendered);
    expect(url.protocol).toBe('postgresql:');
    expect(decodeURIComponent(url.username)).toBe('zep_user');
    expect(decodeURIComponent(url.password)).toBe(PASSWORD);
    expect([url.hostname, url.port, url.pathname, url.search]).toEqual([FIELDS.host, '5432', '/zep', '?sslmode=verify-full&sslrootcert=system']);
    expect(url.hash).toBe('');
    // The generator's alphabet is unreserved: it passes through unescaped; only the contrived characters are escaped.
    expect(rendered).toContain(`:${PASSWORD_ALPHABET}%40%3A%2F%3F%23%25%2B%20@`);
    expect(rendered).toBe(renderTemplate(DATABASE_URL_TEMPLATE, FIELDS));
  });

  it('when the database name holds URI delimiters or the host is IPv6, then the URL keeps its query: the name is percent-encoded, the address bracketed', () => {
    const rendered = renderConsumerValue('database-url', { ...FIELDS, database: 'sales#eu?x/y', host: '2001:db8::7' }, []);
    const url = new URL(rendered);
    expect(decodeURIComponent(url.pathname.slice(1))).toBe('sales#eu?x/y');
    expect([url.hostname, url.search, url.hash]).toEqual(['[2001:db8::7]', '?sslmode=verify-full&sslrootcert=system', '']);
    expect(renderTemplate('host={host} dbname={database}', { ...FIELDS, database: 'sales#eu', host: '2001:db8::7' })).toBe('host=2001:db8::7 dbname=sales#eu');
  });

  it('when a credential sets consumerSslMode, then database-url carries it, with sslrootcert=system only for the verifying modes', () => {
    expect(new URL(renderConsumerValue('database-url', { ...FIELDS, sslmode: 'verify-ca' }, [])).search).toBe('?sslmode=verify-ca&sslrootcert=system');
    expect(new URL(renderConsumerValue('database-url', { ...FIELDS, sslmode: 'require' }, [])).search).toBe('?sslmode=require');
    expect(renderTemplate('sslmode={sslmode}', FIELDS)).toBe('sslmode=verify-full');
  });

  it('when a YAML document embeds a DSN, then only the DSN is encoded and the plain password line stays raw', () => {
    const template = ['database:', '  url: postgresql://{user}:{password}@{host}:{port}/{database}', '  password: "{password}"', '  host: {host}'].join('\n');
    const document = parseYaml(renderTemplate(template, { ...FIELDS, password: `${PASSWORD_ALPHABET}@:/` })) as { database: { url: string; password: string; host: string } };
    expect(document.database.password).toBe(`${PASSWORD_ALPHABET}@:/`);
    expect(decodeURIComponent(new URL(document.database.url).password)).toBe(`${PASSWORD_ALPHABET}@:/`);
    expect(document.database.host).toBe(FIELDS.host);
  });

  it('when a template holds two URIs and plain text, then each URI is encoded and the text between them is not', () => {
    const rendered = renderTemplate('primary=postgres://{user}:{password}@{host}/{database} note {password} replica=jdbc:postgresql://{host}:{port}/{database}?password={password}', {
      ...FIELDS,
      password: 'a/b',
    });
    expect(rendered).toBe(`primary=postgres://zep_user:a%2Fb@${FIELDS.host}/zep note a/b replica=jdbc:postgresql://${FIELDS.host}:5432/zep?password=a%2Fb`);
  });

  it('when the format is password or a derived secret name, then the consumer gets the password or that rendering', () => {
    const derived = [{ secret: 'zep-dsn', template: 'host={host} port={port} dbname={database} user={user} password={password}' }];
    expect(renderConsumerValue('password', FIELDS, derived)).toBe(PASSWORD);
    expect(renderConsumerValue('zep-dsn', { ...FIELDS, password: 'p@ss' }, derived)).toBe(`host=${FIELDS.host} port=5432 dbname=zep user=zep_user password=p@ss`);
  });
});

describe('validating templates', () => {
  it('when a template names fields that do not exist, then each unknown name is returned once; JSON braces are not placeholders', () => {
    expect(validateTemplate('{"url": "postgresql://{usr}:{pass}@{host}/{database}", "again": "{usr}"}')).toEqual(['usr', 'pass']);
    expect(validateTemplate(DATABASE_URL_TEMPLATE)).toEqual([]);
  });

  it('when an unknown placeholder reaches rendering, then it is refused rather than written into a secret', () => {
    expect(() => renderTemplate('postgresql://{user}:{pasword}@{host}', FIELDS)).toThrow(/unknown field \{pasword\}/);
  });

  it('when a derived template names an unknown field, then parseConfig rejects it naming the credential, the entry and the field', () => {
    const error = configError(credential({ derived: [{ secret: 'zep-url', template: DATABASE_URL_TEMPLATE }, { secret: 'zep-dsn', template: 'postgresql://{user}:{pasword}@{hostname}/{database}' }] }));
    expect(error.code).toBe('invalid-config');
    expect(error.message).toBe('config: credential "zep-db": keyVault.derived[1].template names unknown fields {pasword}, {hostname}');
  });

  it('when a GitHub consumer format is neither built in nor a derived secret, then parseConfig rejects it naming the format', () => {
    const error = configError(credential({ derived: [{ secret: 'zep-dsn', template: 'user={user} password={password}' }], github: [{ repo: 'acme/api', secret: 'DB_URL', format: 'jdbc-url' }] }));
    expect(error.message).toContain('credential "zep-db": consumers.github[0].format "jdbc-url" is neither password, database-url, nor a keyVault.derived secret of this credential');
    expect(error.message).toContain('zep-dsn');
  });

  it('when formats are password, database-url and a derived secret name, then the configuration loads', () => {
    const config = parseConfig(
      credential({
        derived: [{ secret: 'zep-dsn', template: 'user={user} password={password}' }],
        github: [
          { repo: 'acme/api', secret: 'PG_PASSWORD' },
          { repo: 'acme/api', secret: 'DATABASE_URL', format: 'database-url' },
          { org: 'acme', secret: 'ZEP_DSN', format: 'zep-dsn' },
        ],
      }),
    );
    expect(config.credentials[0].consumers.github.map((t) => t.format)).toEqual(['password', 'database-url', 'zep-dsn']);
  });
});
