// The long soak: `npm run soak -- --runs 10000`, or replay one failure exactly as it was
// printed: `npm run soak -- --seed S --path P`.
import { parseArgs } from 'node:util';
import { soak, summaryLine } from '../test/support/soak-property';
import { SoakWorld } from '../test/support/soak-world';
import { runSchedule } from '../test/support/soak-run';
import { describeSchedule, type Schedule } from '../test/support/soak-schedule';

const USAGE = 'usage: npm run soak -- [--runs N] [--seed S] [--path P] [--no-shrink] [--verbose] | --schedule JSON';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, seed: { type: 'string' }, path: { type: 'string' }, 'no-shrink': { type: 'boolean' }, verbose: { type: 'boolean' }, schedule: { type: 'string' } }, strict: true });
  const runs = values.path !== undefined ? 1 : Number(values.runs ?? 200);
  const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2_000_000_000;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer; ${USAGE}`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer; ${USAGE}`);
  if (values.path !== undefined && !/^\d+(:\d+)*$/.test(values.path)) throw new Error(`--path must be fast-check's path, digits joined by colons; ${USAGE}`);
  const started = Date.now();
  if (values.schedule !== undefined) return runOne(JSON.parse(values.schedule) as Schedule);
  console.log(`soak: ${runs} run(s) from seed ${seed}${values.path ? ` along path ${values.path}` : ''}`);
  const world = await SoakWorld.start();
  try {
    let done = 0;
    let failed = 0;
    const summary = await soak(world, {
      runs,
      seed,
      path: values.path,
      shrink: !values['no-shrink'],
      log: (line) => {
        failed++;
        console.log(line);
      },
      trace: values.verbose ? (line) => console.log(`soak: ${line}`) : undefined,
      progress: () => {
        done++;
        if (done % 50 === 0) console.log(`soak: ${done}/${runs} runs, ${failed} failed, ${Math.round((Date.now() - started) / 1000)} s`);
      },
    });
    console.log(`soak: ${Math.round((Date.now() - started) / 1000)} s; exercised ${JSON.stringify(world.stats)}`);
    console.log(summaryLine(summary));
    return summary.failures.length === 0 ? 0 : 1;
  } finally {
    await world.stop();
  }
}

/** Runs one schedule given as JSON (as a failure prints it), verbosely: for exploring and for regressions. */
async function runOne(schedule: Schedule): Promise<number> {
  const world = await SoakWorld.start();
  try {
    const violations = await runSchedule(world, schedule);
    console.log(`soak: ${describeSchedule(schedule)}`);
    console.log(`soak: exercised ${JSON.stringify(world.stats)}`);
    for (const host of world.hosts) for (const i of host.listInstances()) console.log(`soak: ${i.instanceId} ${i.runtimeStatus} ${JSON.stringify(i.customStatus)}`);
    for (const v of violations) console.log(`  violation: ${v}`);
    return violations.length === 0 ? 0 : 1;
  } finally {
    await world.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
