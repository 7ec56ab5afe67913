import type { RotationReason, RotationStatus, StageRecord, TargetResult } from './status';
import type { OutgoingCloudEvent } from '../targets/event-grid';

/**
 * The outgoing event vocabulary: one CloudEvent per lifecycle step, for subscribers such as
 * a vault mirror, an alert or a chat notice. Data carries names, versions, outcomes and
 * timings only: every field below is copied by name from the status, never spread, so a
 * field that is not listed here cannot reach a subscriber.
 */

/** Reverse-DNS prefix of every event type this service emits. */
export const LIFECYCLE_EVENT_PREFIX = 'com.credentialrotator.rotation';

export const LIFECYCLE_STEPS = ['started', 'succeeded', 'failed', 'degraded', 'retired'] as const;
export type LifecycleStep = (typeof LIFECYCLE_STEPS)[number];

export function lifecycleEventType(step: LifecycleStep): string {
  return `${LIFECYCLE_EVENT_PREFIX}.${step}`;
}

export interface LifecycleEventData {
  credentialId: string;
  rotationId?: string;
  role?: string;
  liveVersion?: string;
  previousVersion?: string;
  stages: StageRecord[];
  targets?: TargetResult[];
  error?: { code: string; stage: string; message: string };
  reason?: RotationReason;
}

export type LifecycleEvent = OutgoingCloudEvent<LifecycleEventData>;

/** What the status does not hold: why the rotation ran and how the consumers fared. */
export interface LifecycleContext {
  reason?: RotationReason;
  targets?: readonly TargetResult[];
}

/**
 * `id` is the rotation id and the step, so a publish repeated by a retry, a replay or a
 * resumed rotation is recognised by subscribers as the same event. Before begin has named
 * the rotation, the credential and `now` stand in for it.
 */
export function buildLifecycleEvent(step: LifecycleStep, status: RotationStatus, now: Date, context: LifecycleContext = {}): LifecycleEvent {
  const rotation = status.rotationId ?? `${status.credentialId}@${now.toISOString()}`;
  const event: LifecycleEvent = {
    id: `${rotation}.${step}`,
    type: lifecycleEventType(step),
    source: `/credentials/${status.credentialId}`,
    time: now.toISOString(),
    data: eventData(status, context),
  };
  if (status.role !== undefined) event.subject = status.role;
  return event;
}

function eventData(status: RotationStatus, context: LifecycleContext): LifecycleEventData {
  return withoutUndefined({
    credentialId: status.credentialId,
    rotationId: status.rotationId,
    role: status.role,
    liveVersion: status.liveVersion,
    previousVersion: status.previousVersion,
    stages: status.stages.map(stageRecord),
    targets: context.targets?.map(targetResult),
    error: status.error && { code: status.error.code, stage: status.error.stage, message: status.error.message },
    reason: context.reason,
  });
}

function stageRecord(s: StageRecord): StageRecord {
  return withoutUndefined({ stage: s.stage, outcome: s.outcome, startedAt: s.startedAt, durationMs: s.durationMs, detail: s.detail });
}

function targetResult(t: TargetResult): TargetResult {
  return withoutUndefined({ kind: t.kind, key: t.key, target: t.target, outcome: t.outcome, errorCode: t.errorCode });
}

/** Keeps the serialized event free of `"x": undefined` noise, and equal to what a subscriber parses. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
