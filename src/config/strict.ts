import { z } from 'zod';
import { configSchema } from './schema';

/**
 * Checks zod cannot make: keys the schema does not know (a misspelt `graceMinute` would
 * otherwise fall back to the default silently), named with the nearest known key, and keys
 * a JSON text gives twice (JSON.parse keeps the last one without a word).
 */

interface JsonSchema {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  const?: unknown;
}

let inputSchema: JsonSchema | undefined;

function schema(): JsonSchema {
  inputSchema ??= z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return inputSchema;
}

export interface UnknownKey {
  path: (string | number)[];
  key: string;
  nearest?: string;
}

/** Every key of `raw` the schema does not define, with the closest defined key when one is close. */
export function unknownKeys(raw: unknown): UnknownKey[] {
  const found: UnknownKey[] = [];
  visit(schema(), raw, [], found);
  return found;
}

function visit(node: JsonSchema, value: unknown, path: (string | number)[], found: UnknownKey[]): void {
  const variants = node.anyOf ?? node.oneOf;
  if (variants) {
    // Without exactly one member chosen, zod reports the discriminator itself.
    const matching = variants.filter((v) => discriminatorMatches(v, value));
    if (matching.length === 1) visit(matching[0], value, path, found);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      const itemSchema = node.prefixItems?.[i] ?? node.items;
      if (itemSchema) visit(itemSchema, item, [...path, i], found);
    });
    return;
  }
  if (!node.properties || typeof value !== 'object' || value === null) return;
  const known = Object.keys(node.properties);
  for (const [key, child] of Object.entries(value)) {
    if (node.properties[key]) visit(node.properties[key], child, [...path, key], found);
    else found.push({ path, key, nearest: nearest(key, known) });
  }
}

/** A union member is chosen by its constant fields (`auth: entra`), as the discriminated union does. */
function discriminatorMatches(variant: JsonSchema, value: unknown): boolean {
  if (!variant.properties || typeof value !== 'object' || value === null) return false;
  const constants = Object.entries(variant.properties).filter(([, p]) => p.const !== undefined);
  return constants.length > 0 && constants.every(([k, p]) => (value as Record<string, unknown>)[k] === p.const);
}

/** The known key at the smallest edit distance, if within a third of its length (at least 2). */
function nearest(key: string, known: string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(key.toLowerCase(), name.toLowerCase());
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(best.name.length / 3)) ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

/**
 * The first key that an object of a valid JSON text gives twice, with where it is. Walks
 * the text once, tracking the keys of each open object; strings are skipped whole.
 */
export function duplicateJsonKey(text: string): { path: string; key: string } | undefined {
  const stack: { keys?: Set<string>; path: string; expectKey: boolean; lastKey?: string; index: number }[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    const top = stack.at(-1);
    if (c === '"') {
      const end = closingQuote(text, i);
      const str = JSON.parse(text.slice(i, end + 1)) as string;
      if (top?.keys && top.expectKey) {
        if (top.keys.has(str)) return { path: top.path, key: str };
        top.keys.add(str);
        top.lastKey = str;
        top.expectKey = false;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      const path = top ? childPath(top) : '';
      stack.push(c === '{' ? { keys: new Set(), path, expectKey: true, index: 0 } : { path, expectKey: false, index: 0 });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top) {
      if (top.keys) top.expectKey = true;
      else top.index += 1;
    }
  }
  return undefined;
}

function childPath(parent: { keys?: Set<string>; path: string; lastKey?: string; index: number }): string {
  const segment = parent.keys ? parent.lastKey ?? '' : `[${parent.index}]`;
  if (!parent.keys) return `${parent.path}${segment}`;
  return parent.path ? `${parent.path}.${segment}` : segment;
}

function closingQuote(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i += 1) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === '"') return i;
  }
  return text.length - 1;
}
