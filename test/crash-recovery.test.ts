import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretNameFor } from '../src/local/environment';
import { startHarness, type Harness } from './support/harness';

/** Where the worker dies: right after the named adapter call of that stage returned. */
const CRASH_POINTS = [
  { after: 'begin', method: 'latest', call: 2 },
  { after: 'stage', method: 'write', call: 1 },
  { after: 'ALTER ROLE inside apply', method: 'setPasswordChecked', call: 1 },
  { after: 'the pending value read inside promote', method: 'value', call: 2 },
  { after: 'verify', method: 'probe', call: 1 },
  { after: 'the live write inside promote', method: 'write', call: 2 },
  { after: 'promote', method: 'remove', call: 1 },
  { after: 'retire', method: 'disable', call: 1 },
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
    const result = await h.crashAndRecover(id, { method, call }, mode === 'resumed by replay' ? 'replay' : 'fresh');

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
