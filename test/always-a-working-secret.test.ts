import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretNameFor } from '../src/local/environment';
import type { RotationDeps } from '../src/rotation/deps';
import { startHarness, type Harness } from './support/harness';

interface Observation {
  after: string;
  live: string;
  pending: string | null;
}

describe('invariant 2: at every instant some secret in Key Vault authenticates', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'watched-db', role: 'watched_app', containerApps: [{ app: 'watched-api' }] },
      {
        id: 'watched-alt-db',
        role: 'watchedalt',
        strategy: 'alternating-users',
        derived: [{ secret: 'watched-alt-db-url', template: 'postgresql://{user}:{password}@{host}:{port}/{database}' }],
        containerApps: [{ app: 'watched-alt-api' }],
      },
    ]);
  });
  afterAll(() => h?.stop());

  /** After every adapter call of the rotation, log in with the live secret and with the pending one. */
  async function watch(credentialId: string, role: (tags: Record<string, string>) => string): Promise<Observation[]> {
    const seen: Observation[] = [];
    const check = async (after: string) => {
      const live = h.env.vault.versions(secretNameFor(credentialId)).at(-1)!;
      const pendingName = `${secretNameFor(credentialId)}-pending`;
      const pending = h.env.vault.isDeleted(pendingName) ? undefined : h.env.vault.versions(pendingName).at(-1);
      seen.push({ after, live: await h.login(role(live.tags), live.value), pending: pending ? await h.login(pending.tags.role, pending.value) : null });
    };
    const observe = <T extends object>(target: T, kind: string): T =>
      new Proxy(target, {
        get: (obj, prop, receiver) => {
          const value = Reflect.get(obj, prop, receiver);
          if (typeof value !== 'function') return value;
          return async (...args: unknown[]) => {
            const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
            await check(`${kind}.${String(prop)}`);
            return result;
          };
        },
      });
    const base = h.deps.current;
    h.deps.current = { ...base, vault: (url) => observe(base.vault(url), 'vault'), postgres: (c) => observe(base.postgres(c), 'postgres') } satisfies RotationDeps;
    try {
      const result = await h.rotate(h.newHost(), credentialId);
      expect(result.custom.outcome).toBe('succeeded');
    } finally {
      h.deps.current = base;
    }
    return seen;
  }

  it('single user: after every step either the live or the pending secret logs in, and only the pending one between apply and promote', async () => {
    const seen = await watch('watched-db', () => 'watched_app');
    expect(seen.map((o) => o.after)).toEqual(expect.arrayContaining(['vault.write', 'postgres.setPasswordChecked', 'postgres.probe', 'vault.remove', 'vault.disable']));
    expect(seen.filter((o) => o.live !== 'accepted' && o.pending !== 'accepted')).toEqual([]);
    const window = seen.filter((o) => o.live !== 'accepted');
    expect(window.length).toBeGreaterThan(0);
    expect(window.every((o) => o.pending === 'accepted')).toBe(true);
    expect(window[0].after).toBe('postgres.setPasswordChecked');
  });

  it('alternating users: after every step the live secret itself logs in', async () => {
    const seen = await watch('watched-alt-db', (tags) => tags.role);
    expect(seen.map((o) => o.after)).toEqual(expect.arrayContaining(['vault.write', 'postgres.setPasswordChecked', 'postgres.probe', 'vault.remove', 'postgres.retireLogin']));
    expect(seen.filter((o) => o.live !== 'accepted')).toEqual([]);
  });
});
