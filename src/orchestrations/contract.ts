import type { SerializedError } from '../errors';
import type { LifecycleStep } from '../rotation/lifecycle-events';
import type { RotationReason, RotationStatus, StageName } from '../rotation/status';

/** What the orchestrator and its activities agree on. No I/O, no secrets. */

export const ORCHESTRATOR = 'rotateCredential';

/**
 * Every activity: one per stage (stage itself runs inside begin), and the lifecycle publisher
 * for the events no stage announces.
 */
export type ActivityKind = Exclude<StageName, 'stage'> | 'publish';

export function activityName(kind: ActivityKind): string {
  return `rotation-${kind}`;
}

export function instanceIdFor(credentialId: string): string {
  return `rotate-${credentialId}`;
}

export interface RotationRequest {
  credentialId: string;
  reason: RotationReason;
  /** `propagate`: no new password, push the live version to `targets` (all when absent). */
  mode?: 'rotate' | 'propagate';
  targets?: string[];
  /** A random id the starter puts in the input: the instance's input then says whose start created it. */
  startToken?: string;
}

/**
 * A lifecycle event the activity publishes itself once its stage has succeeded, rather than
 * a publish activity of its own (a queue message and two history events fewer). `status` is
 * the orchestration's status before the stage; the activity adds the stage's record.
 */
export interface Announce {
  step: LifecycleStep;
  status: RotationStatus;
  startedAt: string;
}

/** Whether the announced event reached the topic; a failure never fails the stage. */
export interface Announced {
  step: LifecycleStep;
  published: boolean;
  message?: string;
}

/** Permanent failures come back as values so the durable retry policy only sees transient ones. */
export type Envelope<T> = { ok: true; value: T; durationMs: number; announced?: Announced } | { ok: false; error: SerializedError; durationMs: number };
