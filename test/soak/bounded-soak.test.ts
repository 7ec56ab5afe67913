import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportFailure, soak, summaryLine } from '../support/soak-property';
import { SoakWorld } from '../support/soak-world';

/**
 * How many generated schedules the suite runs: chosen from measurement so the file takes
 * about two minutes on two cores (see the README's soak section). A count, not a timer, so
 * every CI run tries the same schedules.
 */
const RUNS = 32;
/** Fixed, so CI is deterministic; `npm run soak` takes other seeds. */
const SEED = 20261201;

describe('the bounded soak: generated schedules of starts, faults, crashes and clock jumps, held to every invariant', () => {
  let world: SoakWorld;
  beforeAll(async () => {
    world = await SoakWorld.start();
  });
  afterAll(() => world?.stop());

  it(`when ${RUNS} generated schedules run to rest, then no invariant is broken, and the runs crashed, recovered, failed, degraded and succeeded along the way`, async () => {
    const summary = await soak(world, { runs: RUNS, seed: SEED });

    expect(summary.failures.map(reportFailure)).toEqual([]);
    expect(summaryLine(summary)).toBe(`soak runs=${RUNS} violations=0 seeds-failed=`);
    const { stats } = world;
    expect(stats.runs).toBe(RUNS);
    expect(stats.crashes.replay).toBeGreaterThan(0);
    expect(stats.crashes.fresh).toBeGreaterThan(0);
    expect(stats.postgresFaults).toBeGreaterThan(0);
    expect(stats.outcomes.succeeded).toBeGreaterThan(0);
    expect((stats.outcomes.degraded ?? 0) + (stats.outcomes.failed ?? 0)).toBeGreaterThan(0);
  }, 1_800_000);
});
