import { z } from 'zod';
import { APP_SETTINGS } from './app-settings';
import { configSchema } from './schema';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

interface Row {
  key: string;
  type: string;
  default: string;
  meaning: string;
}

/** The README's configuration table, generated from the one schema so the two cannot drift. */
export function configurationTable(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const rows = new Map<string, Row>();
  walk(schema, '', rows);
  const lines = [...rows.values()].map((r) => `| \`${r.key}\` | ${r.type} | ${r.default} | ${r.meaning} |`);
  return ['| key | type | default | meaning |', '|---|---|---|---|', ...lines].join('\n');
}

export function settingsTable(): string {
  const lines = Object.entries(APP_SETTINGS).map(([name, s]) => `| \`${name}\` | ${s.default ? `\`${s.default}\`` : ''} | ${s.description} |`);
  return ['| app setting | default | meaning |', '|---|---|---|', ...lines].join('\n');
}

function walk(node: JsonSchema, path: string, rows: Map<string, Row>, inherited?: string): void {
  const variants = node.oneOf ?? node.anyOf;
  if (variants) {
    for (const variant of variants) walk(variant, path, rows, node.description ?? inherited);
    return;
  }
  if (node.properties) {
    for (const [name, child] of Object.entries(node.properties)) walk(child, path ? `${path}.${name}` : name, rows);
    return;
  }
  if (node.items && node.items.properties) return walk(node.items, `${path}[]`, rows);
  const existing = rows.get(path);
  const meaning = node.description ?? inherited ?? '';
  if (existing) {
    existing.type = mergeTypes(existing.type, typeOf(node));
    if (!existing.meaning.includes(meaning)) existing.meaning = [existing.meaning, meaning].filter(Boolean).join('; ');
    return;
  }
  rows.set(path, { key: path, type: typeOf(node), default: node.default === undefined ? '' : `\`${JSON.stringify(node.default)}\``, meaning });
}

function typeOf(node: JsonSchema): string {
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.enum) return node.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (node.prefixItems) return `[${node.prefixItems.map(typeOf).join(', ')}]`;
  if (node.items) return `${typeOf(node.items)}[]`;
  return Array.isArray(node.type) ? node.type.join(' \\| ') : (node.type ?? 'any');
}

function mergeTypes(a: string, b: string): string {
  return a === b ? a : `${a} \\| ${b}`;
}
