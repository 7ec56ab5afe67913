import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const ENTRY = resolve(ROOT, 'src/index.ts');

/** SDKs the app needs only once it talks to a service; loading them at import is paid on every cold start. */
const LOADED_ON_FIRST_USE = [
  '@azure/keyvault-secrets',
  '@azure/arm-appcontainers',
  '@azure/arm-authorization',
  '@azure/eventgrid',
  '@azure/identity',
  '@azure/monitor-opentelemetry',
  '@azure/core-rest-pipeline',
  '@octokit/rest',
  'libsodium-wrappers',
  'pg',
  'yaml',
];

/**
 * Every module of the project the entry can load, statically or by a `require` or `import()`
 * inside a function: each file is compiled to CommonJS as `npm run build` does, so type-only
 * imports drop out exactly as they do in production.
 */
function productionModules(entry: string): Set<string> {
  const reached = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (reached.has(file)) continue;
    reached.add(file);
    const compiled = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 }, fileName: file }).outputText;
    for (const [, specifier] of compiled.matchAll(/(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      if (specifier.startsWith('.')) pending.push(resolveSource(dirname(file), specifier));
    }
  }
  return reached;
}

function resolveSource(from: string, specifier: string): string {
  const base = resolve(from, specifier.replace(/\.js$/, ''));
  const candidate = [`${base}.ts`, resolve(base, 'index.ts')].find((path) => existsSync(path));
  if (!candidate) throw new Error(`cannot resolve ${specifier} from ${relative(ROOT, from)}`);
  return candidate;
}

describe('the production import graph', () => {
  it('when every module the app entry can load is walked, then none is under src/local', () => {
    const modules = [...productionModules(ENTRY)].map((path) => relative(ROOT, path));

    expect(modules).toContain('src/composition.ts');
    expect(modules).toContain('src/targets/key-vault.ts');
    expect(modules.filter((path) => path.startsWith('src/local/'))).toEqual([]);
  });

  it('when a fresh node imports the app entry with the worker present, then no service SDK is loaded', () => {
    // The worker's @azure/functions-core is supplied first, so every function registers as on Azure.
    const script = `
      require('./src/local/functions-core.ts').installFunctionsCore();
      const Module = require('node:module');
      const requested = new Set();
      const load = Module._load;
      Module._load = function (request, ...rest) { requested.add(request); return load.call(this, request, ...rest); };
      require('./src/index.ts');
      process.stdout.write(JSON.stringify({ requested: [...requested], files: Object.keys(require.cache) }));`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    expect(run.stderr).not.toMatch(/Error/);
    const { requested, files } = JSON.parse(run.stdout) as { requested: string[]; files: string[] };

    expect(requested).toContain('durable-functions');
    expect(files.some((file) => file.endsWith('/src/targets/key-vault.ts'))).toBe(true);
    const loaded = LOADED_ON_FIRST_USE.filter((name) => requested.includes(name) || files.some((file) => file.includes(`/node_modules/${name}/`)));
    expect(loaded).toEqual([]);
  });
});
