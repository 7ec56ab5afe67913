import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..');

/** Resolves with the first match of `pattern` in the child's output so far, or rejects when it exits first. */
function waitForOutput(child: ChildProcess, output: () => string, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output()}`)), timeoutMs);
    const check = () => {
      const match = output().match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', () => reject(new Error(`the sandbox exited before printing ${pattern}:\n${output()}`)));
  });
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('npm start -- --serve', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child?.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
  });

  it('when the rotations are done, then the sandbox prints the dashboard URL and serves it until Ctrl-C, which stops the host, the emulators and PostgreSQL and exits 0', async () => {
    let output = '';
    // Its own process group, as a terminal's foreground job: Ctrl-C sends SIGINT to every process in it.
    // Node with tsx as a loader rather than the tsx launcher: the launcher re-sends a signal its child has not acknowledged within 30 ms and then kills it, which on a loaded machine tests the launcher, not the sandbox.
    child = spawn(process.execPath, ['--import', 'tsx', 'src/local/sandbox.ts', '--serve'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child!.once('exit', (code, signal) => resolve({ code, signal })));

    const [, url] = await waitForOutput(child, () => output, /dashboard: (http:\/\/127\.0\.0\.1:\d+\/api\/dashboard)/, 150_000);
    const pgPort = Number(/PostgreSQL on 127\.0\.0\.1:(\d+)/.exec(output)![1]);
    const response = await fetch(url);
    const page = await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    for (const id of ['orders-db', 'billing-db', 'reports-db']) expect(page).toContain(`data-credential="${id}"`);
    expect(await refuses(pgPort)).toBe(false);

    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(output).toContain('sandbox: SIGINT: stopping');
    expect(await refuses(pgPort)).toBe(true);
    expect(await refuses(Number(new URL(url).port))).toBe(true);
  }, 180_000);
});
