import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { azdFunctionPackage, extractZip, funcignoreExcludesNodeModules, gitignore, writeZip } from './support/azd-package';

const ROOT = join(__dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'rotator-package-'));

// The unpacked package holds a full node_modules: removing it takes a while on a busy machine.
afterAll(() => rmSync(work, { recursive: true, force: true }), 300_000);

describe('a deployment that deploys', () => {
  it('when azure.yaml asks for a remote build, then .funcignore excludes node_modules, as azd requires of a TypeScript function app', () => {
    const api = (parseYaml(readFileSync(join(ROOT, 'azure.yaml'), 'utf8')) as { services: Record<string, { project: string; host: string; language: string; remoteBuild?: boolean }> }).services.api;
    expect(api).toMatchObject({ project: '.', host: 'function', language: 'ts', remoteBuild: true });
    expect(funcignoreExcludesNodeModules(ROOT)).toBe(true);
  });

  it('when the gitignore rules are read as azd reads them, then folder-only, anchored, negated and wildcard patterns behave as in git', () => {
    const ignored = gitignore('node_modules/\n/dist\n*.md\n!KEEP.md\n.git*\nsrc/**/fixtures/\n');
    expect(ignored('node_modules', true)).toBe(true);
    expect(ignored('node_modules', false)).toBe(false);
    expect(ignored('packages/a/node_modules', true)).toBe(true);
    expect(ignored('dist', true)).toBe(true);
    expect(ignored('src/dist', true)).toBe(false);
    expect(ignored('docs/README.md', false)).toBe(true);
    expect(ignored('KEEP.md', false)).toBe(false);
    expect(ignored('.github', true)).toBe(true);
    expect(ignored('src/a/b/fixtures', true)).toBe(true);
  });

  it('when the package is zipped exactly as azd does, then it holds the sources and build files, no node_modules, tests or build output, and `npm ci && npm run build` succeeds from it', () => {
    const files = azdFunctionPackage(ROOT);
    const zip = join(work, 'api.zip');
    writeZip(ROOT, files, zip);
    const unpacked = join(work, 'unpacked');
    const entries = extractZip(zip, unpacked);

    expect(entries).toEqual(files);
    for (const needed of ['package.json', 'package-lock.json', 'host.json', 'tsconfig.json', 'tsconfig.build.json', 'src/index.ts', 'src/app.ts']) expect(entries).toContain(needed);
    for (const prefix of ['node_modules/', 'dist/', 'test/', 'bench/', 'infra/', '.github/', 'coverage/']) expect(entries.filter((e) => e.startsWith(prefix))).toEqual([]);
    expect(entries.filter((e) => /\.test\.ts$|(^|\/)local\.settings\.json$|^\.funcignore$/.test(e))).toEqual([]);
    expect(entries.every((e) => e.startsWith('src/') || !e.includes('/'))).toBe(true);

    // The npm cache filled by this checkout's own `npm ci` stands in for the registry: no network.
    const npm = (args: string[]) => execFileSync('npm', args, { cwd: unpacked, stdio: 'pipe', env: { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });
    npm(['ci']);
    npm(['run', 'build']);
    const main = (JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { main: string }).main;
    expect(existsSync(join(unpacked, main))).toBe(true);
    expect(existsSync(join(unpacked, 'dist', 'src', 'functions'))).toBe(true);
  }, 600_000);
});
