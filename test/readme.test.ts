import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReadme } from '../scripts/update-readme';

describe('the README', () => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

  it('when the schema or the settings registry changes, then the README tables must be regenerated (npm run docs)', () => {
    expect(renderReadme(readme)).toBe(readme);
  });

  it('names the two set-up commands and the test command exactly as CI runs them', () => {
    expect(readme).toContain('npm install');
    expect(readme).toContain('npm start');
    expect(readme).toContain('npm test');
    expect(readFileSync(join(__dirname, '..', '.ci', 'run'), 'utf8')).toMatch(/npm ci\nnpm test\n/);
  });
});
