import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Just enough of Bicep's lexical rules to find objects and strings without a compiler. */

export const INFRA = join(__dirname, '..', '..', 'infra');

/** Index of the quote that closes the Bicep string opening at `open` (`\\'` is an escaped quote). */
export function closingQuote(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i += 1) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === "'") return i;
  }
  throw new Error('unterminated string');
}

/** Index of the brace closing the one at `open`, skipping strings and line comments. */
export function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i += 1) {
    const c = text[i];
    if (c === "'") i = closingQuote(text, i);
    else if (c === '/' && text[i + 1] === '/') i = text.indexOf('\n', i);
    else if (c === '{') depth += 1;
    else if (c === '}' && --depth === 0) return i;
  }
  throw new Error('unbalanced braces');
}

export function bicepFiles(dir = INFRA): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return bicepFiles(path);
      return entry.name.endsWith('.bicep') ? [path] : [];
    })
    .sort();
}
