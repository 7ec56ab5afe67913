import fc from 'fast-check';
import type { LocalCredentialSpec } from '../../src/local/environment';
import type { PostgresFaultKind } from './soak-postgres-proxy';

/**
 * The credentials every soak run works on: both strategies, with and without consumers. The
 * alternating one with consumers reaches its apps through a derived URL that names the user,
 * so a switch of login has to reach them too.
 */
export const SOAK_CREDENTIALS: LocalCredentialSpec[] = [
  { id: 'soak-single', role: 'soak_single' },
  { id: 'soak-alt', role: 'soak_alt', strategy: 'alternating-users' },
  {
    id: 'soak-single-consumed',
    role: 'soak_single_consumed',
    github: [{ repo: 'soak/web', secret: 'DB_PASSWORD' }],
    containerApps: [{ app: 'soak-single-api' }],
  },
  {
    id: 'soak-alt-consumed',
    role: 'soak_alt_consumed',
    strategy: 'alternating-users',
    derived: [{ secret: 'soak-alt-consumed-url', template: 'postgresql://{user}:{password}@{host}:{port}/{database}?sslmode={sslmode}' }],
    github: [{ repo: 'soak/jobs', secret: 'DATABASE_URL', format: 'database-url' }],
    containerApps: [{ app: 'soak-alt-api' }],
  },
];

export type EntryPoint = 'http' | 'event' | 'event-duplicate' | 'event-stale' | 'timer';

export type Fault =
  | { service: 'key-vault'; kind: '429' | '500' | '503' | 'reset' | 'slow' | 'token-expired'; times: number }
  | { service: 'postgres'; kind: PostgresFaultKind; admin: boolean; times: number }
  | { service: 'github'; kind: '403' | '422' | '500' | '502' | 'rate-limit' | 'secondary-rate-limit'; times: number }
  | { service: 'arm'; kind: '409' | '500' | '503' | 'token-expired' | 'never-healthy'; times: number }
  | { service: 'event-grid'; kind: '500' | '503'; times: number };

/**
 * One thing that happens to the system. Starts do not wait for the rotation: what follows
 * (faults, more starts, a janitor run, a crash) lands while it runs. `settle` lets the host
 * run until only external events would move it.
 */
export type Step =
  | { do: 'start'; credential: number; via: EntryPoint }
  | { do: 'propagate'; credential: number }
  | { do: 'janitor'; hoursLater: number }
  | { do: 'fault'; fault: Fault }
  | { do: 'crash'; afterCalls: number; recover: 'replay' | 'fresh' }
  | { do: 'clock'; hours: number }
  | { do: 'settle' };

export type Schedule = Step[];

const credential = fc.integer({ min: 0, max: SOAK_CREDENTIALS.length - 1 });
const times = fc.integer({ min: 1, max: 6 });

const fault: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({ service: fc.constant('key-vault' as const), kind: fc.constantFrom('429', '500', '503', 'reset', 'slow', 'token-expired'), times }),
  fc.record({ service: fc.constant('postgres' as const), kind: fc.constantFrom<PostgresFaultKind>('reset', 'starting-up', 'login-refused', 'statement-timeout'), admin: fc.boolean(), times: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ service: fc.constant('github' as const), kind: fc.constantFrom('403', '422', '500', '502', 'rate-limit', 'secondary-rate-limit'), times }),
  fc.record({ service: fc.constant('arm' as const), kind: fc.constantFrom('409', '500', '503', 'token-expired', 'never-healthy'), times }),
  fc.record({ service: fc.constant('event-grid' as const), kind: fc.constantFrom('500', '503'), times }),
);

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ do: fc.constant('start' as const), credential, via: fc.constantFrom<EntryPoint>('http', 'event', 'event-duplicate', 'event-stale', 'timer') }) },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('propagate' as const), credential }) },
  { weight: 2, arbitrary: fc.record({ do: fc.constant('janitor' as const), hoursLater: fc.constantFrom(0, 2, 7, 30) }) },
  { weight: 5, arbitrary: fc.record({ do: fc.constant('fault' as const), fault }) },
  { weight: 3, arbitrary: fc.record({ do: fc.constant('crash' as const), afterCalls: fc.integer({ min: 1, max: 40 }), recover: fc.constantFrom('replay' as const, 'fresh' as const) }) },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('clock' as const), hours: fc.constantFrom(1, 7, 24 * 31, 24 * 91) }) },
  { weight: 2, arbitrary: fc.record({ do: fc.constant('settle' as const) }) },
);

/** A schedule always starts something, so every run rotates at least once. */
export const scheduleArbitrary: fc.Arbitrary<Schedule> = fc
  .tuple(fc.record({ do: fc.constant('start' as const), credential, via: fc.constantFrom<EntryPoint>('http', 'event', 'event-duplicate', 'timer') }), fc.array(step, { minLength: 0, maxLength: 10 }))
  .map(([first, rest]) => [first, ...rest]);

/** A schedule in one line, for the failure report. */
export function describeSchedule(schedule: Schedule): string {
  return schedule
    .map((s) => {
      switch (s.do) {
        case 'start':
          return `start ${SOAK_CREDENTIALS[s.credential].id} via ${s.via}`;
        case 'propagate':
          return `propagate ${SOAK_CREDENTIALS[s.credential].id}`;
        case 'janitor':
          return `janitor +${s.hoursLater}h`;
        case 'fault':
          return `fault ${s.fault.service} ${s.fault.kind}${s.fault.service === 'postgres' && s.fault.admin ? ' (admin)' : ''} x${s.fault.times}`;
        case 'crash':
          return `crash after ${s.afterCalls} adapter calls, ${s.recover}`;
        case 'clock':
          return `clock +${s.hours}h`;
        case 'settle':
          return 'settle';
      }
    })
    .join('; ');
}
