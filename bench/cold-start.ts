import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Cold start: how long a fresh node takes to import the app entry the Functions host loads
 * (package.json `main`, the JavaScript `npm run build` compiles, which this bench runs
 * first) against importing `@azure/functions` plus `durable-functions` alone. Each sample
 * is its own node process with the worker's `@azure/functions-core` supplied first (outside
 * the timed part), so registrations run as on Azure instead of in "test mode"; the two
 * kinds of sample alternate so that load on the machine hits both alike. Prints medians
 * and their ratio.
 */
export async function coldStartBench(args: string[]): Promise<void> {
  const rounds = Number(args[0] ?? 15);
  const root = resolve(__dirname, '..');
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  const main = resolve(root, (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { main: string }).main);
  const app: number[] = [];
  const libraries: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    const appFirst = i % 2 === 0;
    for (const which of appFirst ? ['app', 'libraries'] : ['libraries', 'app']) {
      if (which === 'app') app.push(importTime(root, [main]));
      else libraries.push(importTime(root, ['@azure/functions', 'durable-functions']));
    }
  }
  const a = median(app);
  const l = median(libraries);
  console.log(`rounds=${rounds}, interleaved, one node process per sample`);
  console.log(`@azure/functions + durable-functions median ${l.toFixed(1)} ms`);
  console.log(`app entry ${main.slice(root.length + 1)} median ${a.toFixed(1)} ms`);
  console.log(`cold-start ratio=${(a / l).toFixed(2)}`);
}

/** Milliseconds one fresh node spends in `require` of the given modules, in order. */
function importTime(root: string, modules: string[]): number {
  const script = `
    require(${JSON.stringify(resolve(root, 'dist/src/local/functions-core.js'))}).installFunctionsCore();
    const started = process.hrtime.bigint();
    for (const m of ${JSON.stringify(modules)}) require(m);
    process.stdout.write(String(Number(process.hrtime.bigint() - started) / 1e6));`;
  const run = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  if (run.status !== 0) throw new Error(`importing ${modules.join(', ')} failed: ${run.stderr}`);
  return Number(run.stdout);
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
