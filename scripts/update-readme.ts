import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configurationTable, settingsTable } from '../src/config/docs';

/** Rewrites the generated tables between their markers in README.md. */
export function renderReadme(readme: string): string {
  return replaceBetween(replaceBetween(readme, 'configuration-table', configurationTable()), 'settings-table', settingsTable());
}

function replaceBetween(text: string, marker: string, body: string): string {
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md lacks the ${marker} markers`);
  return `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`;
}

if (require.main === module) {
  const path = join(__dirname, '..', 'README.md');
  writeFileSync(path, renderReadme(readFileSync(path, 'utf8')));
}
