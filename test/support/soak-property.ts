import fc from 'fast-check';
import { runSchedule } from './soak-run';
import { describeSchedule, scheduleArbitrary, type Schedule } from './soak-schedule';
import type { SoakWorld } from './soak-world';

export interface SoakFailure {
  seed: number;
  /** fast-check's replay path of the shrunk schedule. */
  path: string;
  schedule: Schedule;
  violations: string[];
}

export interface SoakSummary {
  runs: number;
  /** Broken invariants found, counted over the shrunk schedule of each failed run. */
  violations: number;
  failures: SoakFailure[];
}

export interface SoakOptions {
  runs: number;
  /** The first run's seed; run i uses seed + i, so any one run can be replayed alone. */
  seed: number;
  /** Run only every `count`-th run, starting at run `index`: one of `count` processes sharing a soak. */
  shard?: { index: number; count: number };
  /** Replay one shrunk schedule: the failing run's seed and path exactly as printed. */
  path?: string;
  /** Try smaller schedules after a failure (the CI run shrinks too; a replay does not need to). */
  shrink?: boolean;
  log?: (line: string) => void;
  /** Called after each run. */
  progress?: () => void;
  /** Hears each schedule tried and how long it took. */
  trace?: (line: string) => void;
}

class Violations extends Error {
  constructor(readonly found: string[]) {
    super(found.join('\n'));
  }
}

/**
 * Runs `runs` generated schedules, each its own fast-check run with its own seed, so that one
 * failing seed neither hides the others nor needs them to be replayed.
 */
export async function soak(world: SoakWorld, options: SoakOptions): Promise<SoakSummary> {
  const log = options.log ?? (() => undefined);
  const failures: SoakFailure[] = [];
  const property = fc.asyncProperty(scheduleArbitrary, async (schedule) => {
    const started = Date.now();
    const found = await runSchedule(world, schedule);
    options.trace?.(`${Date.now() - started} ms ${found.length} violation(s): ${describeSchedule(schedule)}`);
    if (found.length > 0) throw new Violations(found);
  });
  const shard = options.shard ?? { index: 0, count: 1 };
  let ran = 0;
  for (let i = shard.index; i < options.runs; i += shard.count) {
    ran++;
    const seed = options.seed + i;
    const details = await fc.check(property, { seed, numRuns: 1, path: options.path, endOnFailure: options.shrink === false || options.path !== undefined, verbose: 0 });
    options.progress?.();
    if (!details.failed) continue;
    const schedule = details.counterexample?.[0] ?? [];
    const violations = details.errorInstance instanceof Violations ? details.errorInstance.found : [String((details.errorInstance as Error | undefined)?.stack ?? details.errorInstance)];
    const failure = { seed, path: details.counterexamplePath ?? '0', schedule, violations };
    failures.push(failure);
    log(reportFailure(failure));
  }
  return { runs: ran, violations: failures.reduce((n, f) => n + f.violations.length, 0), failures };
}

export function reportFailure(f: SoakFailure): string {
  return [
    `soak: seed ${f.seed} failed; shrunk path ${f.path}`,
    `  schedule: ${describeSchedule(f.schedule)}`,
    `  schedule (JSON): ${JSON.stringify(f.schedule)}`,
    ...f.violations.map((v) => `  violation: ${v}`),
    `  replay: npm run soak -- --seed ${f.seed} --path ${f.path}`,
  ].join('\n');
}

export function summaryLine(summary: SoakSummary): string {
  return `soak runs=${summary.runs} violations=${summary.violations} seeds-failed=${summary.failures.map((f) => f.seed).join(',')}`;
}
