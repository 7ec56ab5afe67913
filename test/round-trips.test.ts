import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countConnectionAttempts, TASK_SCHEDULED } from '../bench/rotation';
import { secretNameFor } from '../src/local/environment';
import { forgetWorkerMemory } from '../src/targets/secret-memory';
import { startHarness, type Harness } from './support/harness';

/**
 * Each Key Vault request, PostgreSQL connection, activity call and history event is a round
 * trip (and, for activities and history, a queue message and a storage write) on Azure. A
 * single-user rotation without consumers may make at most 8, 4, 6 and 30 of them; alternating
 * users at most two more of each. Counted here, not timed: `npm run bench -- rotation` times them.
 */
const BUDGET = {
  'single-user': { vault: 8, postgres: 4, activities: 6, history: 30 },
  'alternating-users': { vault: 10, postgres: 6, activities: 8, history: 32 },
} as const;

describe('round trips of one rotation', () => {
  let h: Harness;
  let connections: ReturnType<typeof countConnectionAttempts>;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'warm-up-db', role: 'warm_up_app' },
      { id: 'counted-db', role: 'counted_app' },
      { id: 'counted-pair-db', role: 'counted_pair', strategy: 'alternating-users' },
      { id: 'listed-db', role: 'listed_app' },
    ]);
    connections = countConnectionAttempts();
    // The worker's one-off costs: Key Vault's authentication challenge, the admin password read.
    await h.rotate(h.newHost(), 'warm-up-db');
  });
  afterAll(async () => {
    connections?.restore();
    await h?.stop();
  });

  async function count(credentialId: string) {
    const operations: string[] = [];
    const versionedReads: string[] = [];
    const stop = h.env.vault.onRequest((e) => {
      if (e.status === 401) return;
      operations.push(`${e.operation} ${e.secretName ?? ''}`.trim());
      if (e.operation === 'getSecret' && /\/secrets\/[^/]+\/[0-9a-f]+$/.test(e.path)) versionedReads.push(e.path);
    });
    const before = connections.count;
    const host = h.newHost();
    const result = await h.rotate(host, credentialId);
    stop();
    const history = host.history(result.instanceId);
    return { result, operations, versionedReads, postgres: connections.count - before, activities: history.filter((e) => e.EventType === TASK_SCHEDULED).map((e) => e.Name), history: history.length };
  }

  it.each([
    ['single-user', 'counted-db'],
    ['alternating-users', 'counted-pair-db'],
  ] as const)('when a %s rotation without consumers runs on a warm worker, then it stays within its round-trip budget, twice over', async (strategy, credentialId) => {
    for (let rotation = 1; rotation <= 2; rotation += 1) {
      const trips = await count(credentialId);
      const budget = BUDGET[strategy];
      expect(trips.result.custom.outcome).toBe('succeeded');
      expect(trips.activities).toEqual(['rotation-begin', 'rotation-apply', 'rotation-verify', 'rotation-promote', 'rotation-retire']);
      expect(trips.activities.length).toBeLessThanOrEqual(budget.activities);
      expect(trips.history).toBeLessThanOrEqual(budget.history);
      expect(trips.postgres).toBeLessThanOrEqual(budget.postgres);
      // The second rotation's pending secret meets the first's in soft delete and recovers it first.
      const recovery = rotation === 1 ? 0 : 4;
      expect(trips.operations.length, trips.operations.join(', ')).toBeLessThanOrEqual(budget.vault + recovery);
      // Apply, verify and promote take the values begin read or wrote from the worker's memory.
      expect(trips.versionedReads).toEqual([]);
    }
  });

  it('when the first rotation of a single user runs, then its Key Vault requests are exactly the ones the design needs', async () => {
    const trips = await count('listed-db');
    const live = secretNameFor('listed-db');
    expect(trips.operations).toEqual([
      // begin: the live secret (its value comes with it) and any pending one; stage: the new password
      `getSecret ${live}`,
      `getSecret ${live}-pending`,
      `setSecret ${live}-pending`,
      // promote: the new live version, and the pending secret deleted, not waited for
      `setSecret ${live}`,
      `deleteSecret ${live}-pending`,
      // retire: the versions with their tags, the previous version disabled, the live one tagged complete
      `listSecretVersions ${live}`,
      `updateSecret ${live}`,
      `updateSecret ${live}`,
    ]);
  });

  it('when a stage runs on a worker that remembers nothing, then it reads from Key Vault what it needs and the rotation still succeeds', async () => {
    const host = h.newHost();
    const started = await h.start(host, 'counted-db');
    // Forget between every activity: as if each ran on another worker.
    const stop = h.env.vault.onRequest(() => forgetWorkerMemory());
    const status = await host.waitForCompletion(started, { timeoutMs: 30_000 });
    stop();
    expect(status.runtimeStatus).toBe('Completed');
    expect(await h.login('counted_app', h.liveValue('counted-db'))).toBe('accepted');
    expect(h.pendingExists('counted-db')).toBe(false);
  });
});
