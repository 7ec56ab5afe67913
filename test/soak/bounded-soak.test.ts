import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretNameFor } from '../../src/local/environment';
import { reportFailure, soak, summaryLine } from '../support/soak-property';
import { describeSchedule, scheduleArbitrary } from '../support/soak-schedule';
import { SoakWorld } from '../support/soak-world';

/**
 * How many generated schedules the suite runs: chosen from measurement so the file takes
 * about two minutes on two cores (see the README's soak section). A count, not a timer, so
 * every CI run tries the same schedules.
 */
const RUNS = 40;
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

  it('when a soak is shared among processes, then the second of two runs exactly the odd runs, each on the seed it has alone', async () => {
    const tried: string[] = [];
    const summary = await soak(world, { runs: 4, seed: SEED, shard: { index: 1, count: 2 }, trace: (line) => tried.push(line.replace(/^\d+ ms \d+ violation\(s\): /, '')) });

    expect(summary.runs).toBe(2);
    expect(tried).toEqual([SEED + 1, SEED + 3].map((seed) => describeSchedule(fc.sample(scheduleArbitrary, { seed, numRuns: 1 })[0])));
  }, 300_000);

  it("when the checks ask pg_authid instead of logging in, then its answer is a real login's, for the live password, a wrong one, a NOLOGIN role and an expired one", async () => {
    await world.reset();
    const env = world.h.env;
    const single = world.credential(0);
    const password = env.vault.currentValue(secretNameFor(single.id))!;
    const cases: [string, string][] = [
      [single.role, password],
      [single.role, `${password}x`],
      [`${world.credential(1).role}_b`, password],
    ];
    const answers = async () => Promise.all(cases.map(async ([login, value]) => [await world.accepts(login, value), (await env.login(login, value)) === 'accepted']));

    expect(await answers()).toEqual([
      [true, true],
      [false, false],
      [false, false],
    ]);
    const admin = await env.postgres.connect();
    try {
      await admin.query(`ALTER ROLE ${admin.escapeIdentifier(single.role)} VALID UNTIL '2000-01-01'`);
      expect(await answers()).toEqual([
        [false, false],
        [false, false],
        [false, false],
      ]);
    } finally {
      await admin.query(`ALTER ROLE ${admin.escapeIdentifier(single.role)} VALID UNTIL 'infinity'`);
      await admin.end();
    }
  }, 120_000);
});
