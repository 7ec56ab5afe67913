import type { SerializedError } from '../errors';
import type { RotationReason, StageName } from '../rotation/status';

/** What the orchestrator and its activities agree on. No I/O, no secrets. */

export const ORCHESTRATOR = 'rotateCredential';

/** Every activity: one per stage, and the lifecycle publisher. */
export type ActivityKind = StageName | 'publish';

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

/** Permanent failures come back as values so the durable retry policy only sees transient ones. */
export type Envelope<T> = { ok: true; value: T; durationMs: number } | { ok: false; error: SerializedError; durationMs: number };
