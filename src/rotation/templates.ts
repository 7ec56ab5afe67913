import { RotationError } from '../errors';

/**
 * Derived values (a connection URL, a YAML document with a DSN) rendered from the new
 * credential. Placeholders are `{user} {password} {host} {port} {database} {sslmode}`.
 *
 * Inside a URI, user, password and database are percent-encoded (`sales#eu` would end the
 * path and drop the query) and an IPv6 host is bracketed; elsewhere every value is inserted
 * raw. A URI is any `scheme://` token of the template, up to the next whitespace, so a
 * YAML line `url: postgresql://{user}:{password}@{host}/{database}` encodes while a
 * `password: {password}` line beside it does not. The decision is made on the template,
 * never on the rendered text, so a value cannot change how the rest is treated.
 */

export interface TemplateFields {
  user: string;
  password: string;
  host: string;
  port: number | string;
  database: string;
  /** postgres.consumerSslMode: what consumers' clients check of the server's certificate. */
  sslmode: string;
}

export const TEMPLATE_FIELDS: readonly (keyof TemplateFields)[] = ['user', 'password', 'host', 'port', 'database', 'sslmode'];

/**
 * What `format: database-url` means for a consumer. libpq, psycopg and pgx take `require`
 * without checking the certificate; verify-full checks it against the host, here with the
 * system's trust store (`sslrootcert=system`, libpq 16+).
 */
export function databaseUrlTemplate(sslmode: string): string {
  const rootCert = sslmode.startsWith('verify-') ? '&sslrootcert=system' : '';
  return `postgresql://{user}:{password}@{host}:{port}/{database}?sslmode={sslmode}${rootCert}`;
}

/** Consumer formats that need no derived secret. */
export const BUILTIN_FORMATS = ['password', 'database-url'] as const;

const URI = /[A-Za-z][A-Za-z0-9+.-]*:\/\/\S*/g;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const ENCODED_IN_URI = new Set<string>(['user', 'password', 'database']);

/** The placeholder names a template uses that are not fields, each once, in order. */
export function validateTemplate(template: string): string[] {
  const unknown = new Set<string>();
  for (const [, name] of template.matchAll(PLACEHOLDER)) if (!isField(name)) unknown.add(name);
  return [...unknown];
}

export function renderTemplate(template: string, fields: TemplateFields): string {
  const unknown = validateTemplate(template);
  if (unknown.length > 0) {
    throw new RotationError({ code: 'invalid-template', stage: 'template', message: `template names unknown field ${unknown.map((n) => `{${n}}`).join(', ')}` });
  }
  let rendered = '';
  let last = 0;
  for (const uri of template.matchAll(URI)) {
    rendered += substitute(template.slice(last, uri.index), fields, false);
    rendered += substitute(uri[0], fields, true);
    last = uri.index + uri[0].length;
  }
  return rendered + substitute(template.slice(last), fields, false);
}

/** The value a consumer receives: the password, a database URL, or a derived secret's rendering. */
export function renderConsumerValue(format: string, fields: TemplateFields, derived: readonly { secret: string; template: string }[]): string {
  if (format === 'password') return fields.password;
  if (format === 'database-url') return renderTemplate(databaseUrlTemplate(fields.sslmode), fields);
  const source = derived.find((d) => d.secret === format);
  if (!source) throw new RotationError({ code: 'invalid-config', stage: 'template', message: `format "${format}" is neither password, database-url nor a derived secret` });
  return renderTemplate(source.template, fields);
}

function substitute(text: string, fields: TemplateFields, inUri: boolean): string {
  return text.replace(PLACEHOLDER, (_match, name: keyof TemplateFields) => {
    const value = String(fields[name]);
    if (!inUri) return value;
    if (name === 'host' && value.includes(':')) return `[${value}]`;
    return ENCODED_IN_URI.has(name) ? encodeURIComponent(value) : value;
  });
}

function isField(name: string): name is keyof TemplateFields {
  return (TEMPLATE_FIELDS as readonly string[]).includes(name);
}
