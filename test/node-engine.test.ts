import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = join(__dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;

describe('the Node engine range is honest', () => {
  it('when any installed package states the Node versions it runs on, then every version package.json admits is one of them', () => {
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean; os?: string[]; cpu?: string[] }> };
    const narrower = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && !Array.isArray(p.engines) && p.engines?.node !== undefined)
      // Builds for other platforms install only there.
      .filter(([, p]) => !(p.optional && (p.os !== undefined || p.cpu !== undefined)))
      .filter(([, p]) => !semver.subset(engines, (p.engines as { node: string }).node, { includePrerelease: false }))
      .map(([path, p]) => `${path.replace(/^.*node_modules\//, '')} wants ${(p.engines as { node: string }).node}`);
    expect(narrower).toEqual([]);
  });

  it('when the Function App, the deploy workflow and CI pick a Node version, then the range admits it', () => {
    const runtime = /runtime:\s*{\s*name:\s*'node'\s*version:\s*'(\d+)'/.exec(read('infra/app/api.bicep'))?.[1];
    const deploy = parseYaml(read('.github/workflows/deploy.yml')) as { jobs: { deploy: { steps: { uses?: string; with?: { 'node-version'?: string } }[] } } };
    const ci = parseYaml(read('.github/workflows/ci.yml')) as { jobs: { test: { strategy: { matrix: { node: string[] } } } } };
    const majors = [runtime, ...deploy.jobs.deploy.steps.filter((s) => s.uses?.startsWith('actions/setup-node')).map((s) => s.with?.['node-version']), ...ci.jobs.test.strategy.matrix.node];
    expect(majors.length).toBeGreaterThanOrEqual(3);
    for (const major of majors) expect(semver.intersects(engines, `${major}.x`), `Node ${major}`).toBe(true);
  });
});
