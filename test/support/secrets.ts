import { expect } from 'vitest';

/** Fails naming where a secret value was found; values shorter than 16 characters are refused as too weak to scan for. */
export function expectNoSecrets(haystacks: Record<string, string>, secrets: Iterable<string>): void {
  const values = [...new Set(secrets)];
  expect(values.length).toBeGreaterThan(0);
  for (const value of values) expect(value.length).toBeGreaterThanOrEqual(16);
  const found: string[] = [];
  for (const [where, text] of Object.entries(haystacks)) {
    for (const value of values) {
      if (text.includes(value) || text.includes(encodeURIComponent(value)) || text.includes(Buffer.from(value).toString('base64'))) found.push(`${where} contains a secret value (${value.slice(0, 3)}…)`);
    }
  }
  expect(found).toEqual([]);
}
