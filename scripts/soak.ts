// The long soak: `npm run soak -- --runs 10000`, or replay one failure exactly as it was
// printed: `npm run soak -- --seed S --path P`.
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { soak, summaryLine, type SoakSummary } from '../test/support/soak-property';
import { SoakWorld } from '../test/support/soak-world';
import { runSchedule } from '../test/support/soak-run';
import { describeSchedule, type Schedule } from '../test/support/soak-schedule';

const USAGE = 'usage: npm run soak -- [--runs N] [--seed S] [--jobs J] [--path P] [--no-shrink] [--verbose] | --schedule JSON';

type Stats = SoakWorld['stats'];

/** What a job process tells the process that started it. */
type JobMessage = { type: 'progress' } | { type: 'failure'; report: string } | { type: 'done'; summary: SoakSummary; stats: Stats };

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, seed: { type: 'string' }, jobs: { type: 'string' }, shard: { type: 'string' }, path: { type: 'string' }, 'no-shrink': { type: 'boolean' }, verbose: { type: 'boolean' }, schedule: { type: 'string' } }, strict: true });
  const runs = values.path !== undefined ? 1 : Number(values.runs ?? 200);
  const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2_000_000_000;
  const jobs = values.path !== undefined || values.verbose ? 1 : Number(values.jobs ?? Math.min(2, availableParallelism()));
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer; ${USAGE}`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer; ${USAGE}`);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 16) throw new Error(`--jobs must be an integer from 1 to 16; ${USAGE}`);
  if (values.path !== undefined && !/^\d+(:\d+)*$/.test(values.path)) throw new Error(`--path must be fast-check's path, digits joined by colons; ${USAGE}`);
  if (values.schedule !== undefined) return runOne(JSON.parse(values.schedule) as Schedule);
  const options = { runs, seed, path: values.path, shrink: !values['no-shrink'], verbose: values.verbose === true };
  if (values.shard !== undefined) return runShard(options, parseShard(values.shard));
  console.log(`soak: ${runs} run(s) from seed ${seed}${values.path ? ` along path ${values.path}` : ''}${jobs > 1 ? ` in ${jobs} processes` : ''}`);
  return jobs === 1 ? runHere(options) : runJobs(options, jobs);
}

interface RunOptions {
  runs: number;
  seed: number;
  path?: string;
  shrink: boolean;
  verbose: boolean;
}

/** Counts runs and failures as they come and prints a line every 50 runs. */
class Progress {
  private readonly started = Date.now();
  private done = 0;
  private failed = 0;

  constructor(private readonly runs: number) {}

  run(): void {
    this.done++;
    if (this.done % 50 === 0) console.log(`soak: ${this.done}/${this.runs} runs, ${this.failed} failed, ${this.seconds()} s`);
  }

  failure(report: string): void {
    this.failed++;
    console.log(report);
  }

  seconds(): number {
    return Math.round((Date.now() - this.started) / 1000);
  }
}

async function runHere(options: RunOptions): Promise<number> {
  const progress = new Progress(options.runs);
  const world = await SoakWorld.start();
  try {
    const summary = await soak(world, { ...options, log: (line) => progress.failure(line), trace: options.verbose ? (line) => console.log(`soak: ${line}`) : undefined, progress: () => progress.run() });
    console.log(`soak: ${progress.seconds()} s; exercised ${JSON.stringify(world.stats)}`);
    console.log(summaryLine(summary));
    return summary.failures.length === 0 ? 0 : 1;
  } finally {
    await world.stop();
  }
}

/**
 * Shares the runs among `jobs` processes, each with its own PostgreSQL and emulators: run i
 * goes to process i mod jobs and still uses seed + i, so any run replays alone as before.
 */
async function runJobs(options: RunOptions, jobs: number): Promise<number> {
  const progress = new Progress(options.runs);
  const args = ['--runs', String(options.runs), '--seed', String(options.seed), ...(options.shrink ? [] : ['--no-shrink'])];
  const results = await Promise.all(
    Array.from({ length: jobs }, (_, index) => {
      const child = fork(__filename, [...args, '--shard', `${index}/${jobs}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      let done: Extract<JobMessage, { type: 'done' }> | undefined;
      child.on('message', (message: JobMessage) => {
        if (message.type === 'progress') progress.run();
        else if (message.type === 'failure') progress.failure(message.report);
        else done = message;
      });
      return new Promise<Extract<JobMessage, { type: 'done' }>>((resolve, reject) =>
        child.on('exit', (code, signal) => (done ? resolve(done) : reject(new Error(`soak process ${index + 1} of ${jobs} ended (${signal ?? `exit ${code}`}) before it reported its runs`)))),
      );
    }),
  );
  const failures = results.flatMap((r) => r.summary.failures).sort((a, b) => a.seed - b.seed);
  const summary: SoakSummary = { runs: results.reduce((n, r) => n + r.summary.runs, 0), violations: results.reduce((n, r) => n + r.summary.violations, 0), failures };
  console.log(`soak: ${progress.seconds()} s; exercised ${JSON.stringify(results.map((r) => r.stats).reduce(addStats))}`);
  console.log(summaryLine(summary));
  return failures.length === 0 ? 0 : 1;
}

/** One of the processes of `runJobs`: runs its share and reports each run to the parent. */
async function runShard(options: RunOptions, shard: { index: number; count: number }): Promise<number> {
  const send = (message: JobMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));
  const world = await SoakWorld.start();
  try {
    const sends: Promise<void>[] = [];
    const summary = await soak(world, { ...options, shard, log: (report) => void sends.push(send({ type: 'failure', report })), progress: () => void sends.push(send({ type: 'progress' })) });
    await Promise.all(sends);
    await send({ type: 'done', summary, stats: world.stats });
    return 0;
  } finally {
    await world.stop();
  }
}

function parseShard(text: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(text);
  if (!match || Number(match[1]) >= Number(match[2])) throw new Error(`--shard must be k/n with k < n (it is set by --jobs)`);
  return { index: Number(match[1]), count: Number(match[2]) };
}

function addStats(a: Stats, b: Stats): Stats {
  const outcomes = { ...a.outcomes };
  for (const [k, n] of Object.entries(b.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + n;
  return { runs: a.runs + b.runs, crashes: { replay: a.crashes.replay + b.crashes.replay, fresh: a.crashes.fresh + b.crashes.fresh }, outcomes, postgresFaults: a.postgresFaults + b.postgresFaults };
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
