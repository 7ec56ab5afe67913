import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretNameFor } from '../../src/local/environment';
import type { RotationStatus } from '../../src/rotation/status';
import type { ChildBed } from '../support/soak-child';
import { checkEndState } from '../support/soak-invariants';
import { SOAK_CREDENTIALS } from '../support/soak-schedule';
import { SoakWorld } from '../support/soak-world';

const CHILD = join(__dirname, '..', 'support', 'soak-child.ts');

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  killedAfter?: string;
}

/**
 * Runs a worker process; when it says "kill me", SIGKILLs it on the spot. When its virtual
 * clock jumps (a durable timer), the emulators' clock follows, as both follow real time on Azure.
 */
function runChild(bedFile: string, followClock: (offsetMs: number) => void): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, bedFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let output = '';
    let killedAfter: string | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const [, at] of chunk.toString().matchAll(/^clock (\d+)$/gm)) followClock(Number(at) - Date.now());
      if (killedAfter === undefined && output.includes('kill me\n')) {
        killedAfter = /call \d+ (\S+) \+\d+ ms\nkill me/.exec(output)?.[1] ?? '?';
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, output, killedAfter }));
  });
}

describe('a real kill: the worker process is SIGKILLed mid-rotation and a new process resumes from the task hub on disk', () => {
  let world: SoakWorld;
  let dir: string;
  beforeAll(async () => {
    world = await SoakWorld.start();
    dir = mkdtempSync(join(tmpdir(), 'soak-kill-'));
  });
  afterAll(async () => {
    await world?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function killAndResume(credential: number, killAfter: ChildBed['killAfter']): Promise<{ first: ChildRun; second: ChildRun; status: RotationStatus }> {
    await world.reset();
    const env = world.h.env;
    const spec = SOAK_CREDENTIALS[credential];
    const stateFile = join(dir, `${spec.id}-${killAfter}.json`);
    rmSync(stateFile, { force: true });
    const bed: ChildBed = { config: env.config, serviceToken: env.serviceToken, ca: env.vault.ca, events: { endpoint: env.events.endpoint, key: env.events.key }, credentialId: spec.id, stateFile, killAfter };
    const bedFile = join(dir, 'bed.json');
    writeFileSync(bedFile, JSON.stringify(bed));

    let offsetMs = 0;
    env.useClock(() => Date.now() + offsetMs);
    const follow = (offset: number) => (offsetMs = Math.max(offsetMs, offset));
    const first = await runChild(bedFile, follow);
    expect(first.signal, first.output).toBe('SIGKILL');
    expect(existsSync(stateFile)).toBe(true);
    // Invariant 2 at the moment of death: some secret in Key Vault still authenticates.
    expect(await world.someSecretAuthenticates(spec)).toBeUndefined();

    writeFileSync(bedFile, JSON.stringify({ ...bed, killAfter: 0 }));
    const second = await runChild(bedFile, follow);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toMatch(/^resumed 1 instance\(s\) from disk$/m);
    const done = /^done (.*)$/m.exec(second.output);
    const status = (JSON.parse(done![1]) as { customStatus: RotationStatus }).customStatus;
    // What the task hub stored and both processes wrote goes through the same secret scan.
    world.answers.push(first.output, second.output, readFileSync(stateFile, 'utf8'));
    return { first, second, status };
  }

  it('when a single-user rotation is killed right after its password change reached PostgreSQL, then a new process resumes it from disk to a verified credential', async () => {
    const { first, status } = await killAndResume(0, 'password-change');

    expect(first.killedAfter).toMatch(/^postgres\./);
    expect(status.outcome).toBe('succeeded');
    expect(await world.h.env.login('soak_single', world.h.env.vault.currentValue(secretNameFor('soak-single'))!)).toBe('accepted');
    expect(await checkEndState(world)).toEqual([]);
  }, 600_000);

  it('when the adapter call after which the process dies is drawn at random, for every strategy and consumer set, then the resumed rotation ends at rest with every invariant holding', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: SOAK_CREDENTIALS.length - 1 }), fc.integer({ min: 1, max: 12 }), async (credential, killAfter) => {
        const { status } = await killAndResume(credential, killAfter);
        expect(status.outcome).toBe('succeeded');
        expect(await checkEndState(world)).toEqual([]);
      }),
      { numRuns: 2, seed: 20261202, endOnFailure: true },
    );
  }, 900_000);
});
