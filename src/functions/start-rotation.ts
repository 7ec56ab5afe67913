import { randomUUID } from 'node:crypto';
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { instanceIdFor, ORCHESTRATOR, type RotationRequest } from '../orchestrations/contract';
import type { RotationReason } from '../rotation/status';

export type StartResult = { outcome: 'started'; instanceId: string } | { outcome: 'running'; instanceId: string; status: DurableOrchestrationStatus };

const ACTIVE = new Set(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

export function isActive(status: DurableOrchestrationStatus | undefined): status is DurableOrchestrationStatus {
  return status !== undefined && ACTIVE.has(String(status.runtimeStatus));
}

/** The instance's status, or undefined when it never ran (the v3 client throws on 404). */
export async function currentStatus(client: DurableClient, instanceId: string): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId);
  } catch (error) {
    if (/HTTP 404/.test((error as Error).message)) return undefined;
    throw error;
  }
}

/**
 * One rotation per credential: the instance id is fixed and a running instance is reported
 * instead of replaced. The task hub's own check (overridableExistingInstanceStates:
 * NonRunningStates) is not enough: on Azure Storage a second start racing past it is answered
 * as a success although its execution never runs. So the starter puts a token of its own in
 * the input and reports "started" only when the instance's input carries that token.
 */
export async function startRotation(client: DurableClient, credentialId: string, reason: RotationReason, options: Pick<RotationRequest, 'mode' | 'targets'> = {}): Promise<StartResult> {
  const instanceId = instanceIdFor(credentialId);
  const before = await currentStatus(client, instanceId);
  if (isActive(before)) return { outcome: 'running', instanceId, status: before };
  const startToken = randomUUID();
  const input: RotationRequest = { credentialId, reason, ...options, startToken };
  try {
    await client.startNew(ORCHESTRATOR, { instanceId, input });
  } catch (error) {
    const after = await currentStatus(client, instanceId);
    if (isActive(after)) return { outcome: 'running', instanceId, status: after };
    throw error;
  }
  return confirmStart(client, instanceId, startToken);
}

async function confirmStart(client: DurableClient, instanceId: string, startToken: string): Promise<StartResult> {
  const status = await client.getStatus(instanceId, { showInput: true });
  if ((status.input as RotationRequest | null)?.startToken === startToken) return { outcome: 'started', instanceId };
  return { outcome: 'running', instanceId, status };
}
