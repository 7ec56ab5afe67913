import { registerApp } from '../app';
import { DurableHost, installFunctionsCore } from '../local/durable-host';
import { instanceIdFor, ORCHESTRATOR, type RotationRequest } from '../orchestrations/contract';
import type { RotationDeps } from '../rotation/deps';
import type { Rotations } from '../rotation/drift-run';
import type { RotationReason, RotationStatus, StageRecord } from '../rotation/status';

/**
 * The in-process durable host the CLI runs rotations on: the app's own registrations with
 * the operator's adapters. One registration per process; the deps it sees can be swapped.
 */

let current: RotationDeps | undefined;
let registry: ReturnType<typeof installFunctionsCore> | undefined;

export interface CliHost {
  host: DurableHost;
  rotations: Rotations;
  /** Runs one instance to its end, printing a line per stage as it completes. */
  follow(credentialId: string, out: (line: string) => void): Promise<RotationStatus>;
  close(): Promise<void>;
}

export function openHost(deps: RotationDeps, clock: 'real' | 'virtual'): CliHost {
  registry ??= installFunctionsCore();
  if (!current) registerApp(() => current!);
  current = deps;
  const host = new DurableHost({ clock, registry });
  const start = async (credentialId: string, request: Pick<RotationRequest, 'mode' | 'targets'>, reason: RotationReason) => {
    const instanceId = instanceIdFor(credentialId);
    const running = host.listInstances().find((i) => i.instanceId === instanceId && ['Pending', 'Running'].includes(i.runtimeStatus));
    if (running) return 'running' as const;
    await host.startNew(ORCHESTRATOR, { instanceId, input: { credentialId, reason, ...request } satisfies RotationRequest });
    return 'started' as const;
  };
  return {
    host,
    rotations: {
      isRunning: async (id) => host.listInstances().some((i) => i.instanceId === instanceIdFor(id) && ['Pending', 'Running'].includes(i.runtimeStatus)),
      start: (id, request) => start(id, request, 'drift'),
    },
    follow: (credentialId, out) => follow(host, instanceIdFor(credentialId), out),
    close: () => host.close(),
  };
}

export async function startManual(cli: CliHost, credentialId: string, mode: 'rotate' | 'propagate'): Promise<void> {
  await cli.host.startNew(ORCHESTRATOR, { instanceId: instanceIdFor(credentialId), input: { credentialId, reason: 'manual', mode } satisfies RotationRequest });
}

const POLL_MS = 200;
const DAY_MS = 24 * 3600_000;

async function follow(host: DurableHost, instanceId: string, out: (line: string) => void): Promise<RotationStatus> {
  let shown = 0;
  const show = (stages: StageRecord[]) => {
    for (const s of stages.slice(shown)) out(`  ${s.stage.padEnd(10)} ${s.outcome.padEnd(9)} ${formatDuration(s.durationMs)}${s.detail ? `  ${s.detail}` : ''}`);
    shown = stages.length;
  };
  const done = host.waitForCompletion(instanceId, { timeoutMs: DAY_MS }).then((s) => s);
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    show(((await host.getStatus(instanceId)).customStatus as RotationStatus | undefined)?.stages ?? []);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const status = (await done).customStatus as RotationStatus;
  show(status.stages);
  return status;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}
