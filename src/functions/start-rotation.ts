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
 * One rotation per credential: the instance id is fixed, a running instance is reported
 * instead of replaced, and the task hub (overridableExistingInstanceStates:
 * NonRunningStates) refuses a second start that races past the status check.
 */
export async function startRotation(client: DurableClient, credentialId: string, reason: RotationReason, options: Pick<RotationRequest, 'mode' | 'targets'> = {}): Promise<StartResult> {
  const instanceId = instanceIdFor(credentialId);
  const before = await currentStatus(client, instanceId);
  if (isActive(before)) return { outcome: 'running', instanceId, status: before };
  const input: RotationRequest = { credentialId, reason, ...options };
  try {
    await client.startNew(ORCHESTRATOR, { instanceId, input });
    return { outcome: 'started', instanceId };
  } catch (error) {
    const after = await currentStatus(client, instanceId);
    if (isActive(after)) return { outcome: 'running', instanceId, status: after };
    throw error;
  }
}
