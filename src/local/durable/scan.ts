/**
 * Finds where given values (secrets) appear in any string of a JSON-like tree: the durable
 * store holds inputs, outputs, custom statuses, event payloads and failure stacks as JSON
 * text, so a value is also looked for in its JSON-escaped forms.
 */
export interface Occurrence {
  value: string;
  location: string;
}

export function findOccurrences(tree: unknown, root: string, values: string[]): Occurrence[] {
  const needles = values.filter((v) => v.length > 0).map((value) => ({ value, forms: escapedForms(value) }));
  const hits: Occurrence[] = [];
  walk(tree, root, (location, text) => {
    for (const { value, forms } of needles) if (forms.some((f) => text.includes(f))) hits.push({ value, location });
  });
  return hits;
}

function escapedForms(value: string): string[] {
  const once = JSON.stringify(value).slice(1, -1);
  const twice = JSON.stringify(once).slice(1, -1);
  return [...new Set([value, once, twice])];
}

function walk(node: unknown, path: string, visit: (path: string, text: string) => void): void {
  if (typeof node === 'string') return visit(path, node);
  if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${path}[${i}]`, visit));
  if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) walk(value, `${path}.${key}`, visit);
  }
}
