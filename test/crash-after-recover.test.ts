import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretNameFor } from '../src/local/environment';
import { forgetWorkerMemory } from '../src/targets/secret-memory';
import { startHarness, type Harness } from './support/harness';

/**
 * From the second rotation on, staging meets the previous pending secret in soft delete:
 * the write recovers it, then writes the new value. A worker that dies in between leaves
 * the previous rotation's pending copy behind, which must never pass for work to resume.
 * So the worker dies after each vault request of a second and a third rotation in turn, each
 * rotation starting in a fresh worker (nothing remembered, the admin password read first).
 */
const REQUESTS_PER_ROTATION = 13;
const ROTATIONS = [2, 3] as const;
const MODES = ['replay', 'fresh'] as const;

const CASES = ROTATIONS.flatMap((rotation) =>
  Array.from({ length: REQUESTS_PER_ROTATION }, (_, i) => i + 1).flatMap((request) =>
    MODES.map((mode) => ({ rotation, request, mode, id: `recover-${rotation}-${request}-${mode}`, role: `recover_${rotation}_${request}_${mode}` })),
  ),
);

describe('a crash right after a recover', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{ id: 'recover-probe', role: 'recover_probe' }, ...CASES.map(({ id, role }) => ({ id, role }))]);
    // Bring every case to the rotation before the one that crashes, a few at a time.
    for (let i = 0; i < CASES.length; i += 10) {
      const batch = CASES.slice(i, i + 10);
      await Promise.all(batch.map(async (c) => {
        for (let r = 1; r < c.rotation; r += 1) expect((await h.rotate(h.newHost(), c.id)).custom.outcome).toBe('succeeded');
      }));
    }
  }, 600_000);
  afterAll(() => h?.stop());

  it('when a second and a third rotation run undisturbed, then each makes the vault requests this table crashes after, one of them the recover', async () => {
    await h.rotate(h.newHost(), 'recover-probe');
    for (const rotation of ROTATIONS) {
      const seen: string[] = [];
      const stop = h.env.vault.onRequest((e) => {
        if (e.status !== 401) seen.push(`${e.operation}`);
      });
      forgetWorkerMemory();
      const result = await h.rotate(h.newHost(), 'recover-probe');
      stop();
      expect(result.custom.outcome, `rotation ${rotation}`).toBe('succeeded');
      expect(seen, `rotation ${rotation}`).toHaveLength(REQUESTS_PER_ROTATION);
      expect(seen).toContain('recoverDeletedSecret');
    }
  });

  it.each(CASES)('when the worker dies after vault request $request of rotation $rotation and is recovered by $mode, then a new password logs in and no pending secret is left', async ({ id, role, request, mode }) => {
    const before = h.liveValue(id);
    forgetWorkerMemory();

    const result = await h.crashAndRecover(id, { vaultRequest: request }, mode);

    expect(result.status.runtimeStatus).toBe('Completed');
    expect(result.custom.outcome).toBe('succeeded');
    const live = h.liveValue(id);
    expect(live).not.toBe(before);
    expect(await h.login(role, live)).toBe('accepted');
    expect(await h.login(role, before)).toBe('refused 28P01');
    expect(h.pendingExists(id)).toBe(false);
    expect(h.env.vault.versions(secretNameFor(id)).filter((v) => v.enabled).map((v) => v.value)).toEqual([live]);
  });
});
