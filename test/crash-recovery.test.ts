import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostCrashedError } from '../src/local/durable-host';
import { secretNameFor } from '../src/local/environment';
import { startHarness, type Harness } from './support/harness';

/** Where the worker dies: right after the named adapter call of that stage returned. */
const CRASH_POINTS = [
  { after: 'begin', method: 'canLogin', call: 1 },
  { after: 'stage', method: 'write', call: 1 },
  { after: 'ALTER ROLE inside apply', method: 'setPasswordVerifier', call: 1 },
  { after: 'apply', method: 'setTags', call: 1 },
  { after: 'verify', method: 'probe', call: 1 },
  { after: 'the live write inside promote', method: 'write', call: 2 },
  { after: 'promote', method: 'remove', call: 1 },
  { after: 'retire', method: 'disableOtherVersions', call: 1 },
] as const;

const MODES = ['resumed by replay', 'started afresh with the history lost'] as const;

const CASES = CRASH_POINTS.flatMap((point, i) => MODES.map((mode, j) => ({ ...point, mode, id: `crash-${i}-${j}`, role: `crash_${i}_${j}` })));

describe('invariant 5: a crash at any point converges to a verified credential', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(CASES.map(({ id, role }) => ({ id, role })));
  });
  afterAll(() => h?.stop());

  it.each(CASES)('when the process dies after $after and is $mode, then the rotation ends verified with no pending secret', async ({ id, role, method, call, mode }) => {
    const old = h.env.initialPasswords.get(id)!;
    const first = h.newHost();
    h.crash.arm(method, call);
    const instanceId = await h.start(first, id);
    await expect(first.waitForCompletion(instanceId, { timeoutMs: 30_000 })).rejects.toBeInstanceOf(HostCrashedError);
    expect(h.crash.pending).toBe(false);

    let result;
    if (mode === 'resumed by replay') {
      const second = h.newHost(first.exportState());
      second.resume();
      const status = await second.waitForCompletion(instanceId, { timeoutMs: 30_000 });
      result = { status, custom: status.customStatus as { outcome: string; rotationId: string } };
      // The same instance carried on: the crashed history is a prefix of the finished one.
      const before = first.history(instanceId).map((e) => [e.EventType, e.EventId, e.Name]);
      expect(second.history(instanceId).slice(0, before.length).map((e) => [e.EventType, e.EventId, e.Name])).toEqual(before);
    } else {
      result = await h.rotate(h.newHost(), id);
    }

    expect(result.status.runtimeStatus).toBe('Completed');
    expect(result.custom.outcome).toBe('succeeded');
    const live = h.liveValue(id);
    expect(await h.login(role, live)).toBe('accepted');
    expect(await h.login(role, old)).toBe('refused 28P01');
    expect(h.pendingExists(id)).toBe(false);
    const enabled = h.env.vault.versions(secretNameFor(id)).filter((v) => v.enabled);
    expect(enabled).toHaveLength(1);
    expect(enabled[0].value).toBe(live);
  });
});
