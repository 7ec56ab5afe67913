import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Schedule } from '../support/soak-schedule';
import { runSchedule } from '../support/soak-run';
import { SoakWorld } from '../support/soak-world';

/**
 * Schedules the soak once failed on, kept as they were printed, each with what broke and
 * where it was fixed. `npm run soak -- --schedule '<JSON>'` runs one by hand.
 */
const REGRESSIONS: { found: string; broke: string; schedule: Schedule }[] = [
  {
    found: 'seed 20261215 (the bounded soak\'s seeds, during the round-trip work)',
    // A single user without consumers was tagged complete at promote. The worker died after
    // promote, the history lost: begin saw a complete rotation and started a new one, which
    // failed, so nothing ever retired the old version. The live version stays promoted until
    // retire (src/rotation/stages.ts, promote).
    broke: 'soak-single: 2 enabled live versions at rest',
    schedule: [
      { do: 'start', credential: 0, via: 'event' },
      { do: 'crash', afterCalls: 26, recover: 'replay' },
      { do: 'fault', fault: { service: 'key-vault', kind: '500', times: 6 } },
      { do: 'start', credential: 0, via: 'event-stale' },
      { do: 'janitor', hoursLater: 2 },
      { do: 'start', credential: 3, via: 'timer' },
      { do: 'fault', fault: { service: 'postgres', kind: 'reset', admin: true, times: 4 } },
      { do: 'crash', afterCalls: 32, recover: 'fresh' },
      { do: 'settle' },
      { do: 'fault', fault: { service: 'key-vault', kind: '503', times: 4 } },
      { do: 'propagate', credential: 1 },
    ] as Schedule,
  },
  ...[
    { seed: 100343, schedule: [{ do: 'start', credential: 1, via: 'http' }, { do: 'start', credential: 0, via: 'http' }, { do: 'fault', fault: { service: 'postgres', kind: 'login-refused', admin: false, times: 4 } }] },
    { seed: 100465, schedule: [{ do: 'start', credential: 1, via: 'http' }, { do: 'janitor', hoursLater: 0 }, { do: 'start', credential: 1, via: 'http' }, { do: 'fault', fault: { service: 'postgres', kind: 'login-refused', admin: false, times: 2 } }] },
    { seed: 101323, schedule: [{ do: 'start', credential: 3, via: 'http' }, { do: 'start', credential: 0, via: 'http' }, { do: 'fault', fault: { service: 'postgres', kind: 'login-refused', admin: false, times: 4 } }, { do: 'start', credential: 0, via: 'http' }] },
  ].map(({ seed, schedule }) => ({
    found: `seed ${seed} (npm run soak -- --runs 10000 --seed 100000)`,
    // Logins refused while verify ran: compensation probed the idle alternating login with
    // the new password, the refusal read as "never applied", and the login kept LOGIN and a
    // password only the aborted pending secret held. Compensation now clears the idle login
    // without probing (src/rotation/stages.ts, compensate). Whether the fault lands between
    // apply and verify depends on how fast the rotation runs; test/compensation.test.ts holds
    // the same case deterministically.
    broke: `${seed === 101323 ? 'soak-alt-consumed: soak_alt_consumed_b' : 'soak-alt: soak_alt_b'} still takes a version that is not the live credential`,
    schedule: schedule as Schedule,
  })),
];

describe('schedules the soak failed on, kept', () => {
  let world: SoakWorld;
  beforeAll(async () => {
    world = await SoakWorld.start();
  });
  afterAll(() => world?.stop());

  it.each(REGRESSIONS)('when the schedule of $found runs again, then no invariant breaks (it broke: $broke)', async ({ schedule }) => {
    expect(await runSchedule(world, schedule)).toEqual([]);
  }, 600_000);
});
