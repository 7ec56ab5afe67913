import type { SerializedError } from '../errors';

/** What the orchestrator and its activities agree on. No I/O, no secrets. */

export const ORCHESTRATOR = 'rotateCredential';

export const STAGES = ['begin', 'stage', 'apply', 'verify', 'promote', 'retire', 'compensate'] as const;
export type StageName = (typeof STAGES)[number];

export function activityName(stage: StageName): string {
  return `rotation-${stage}`;
}

export function instanceIdFor(credentialId: string): string {
  return `rotate-${credentialId}`;
}

export type RotationReason = 'manual' | 'near-expiry' | 'expired' | 'scheduled' | 'janitor' | 'sandbox';

export interface RotationRequest {
  credentialId: string;
  reason: RotationReason;
}

/** Permanent failures come back as values so the durable retry policy only sees transient ones. */
export type Envelope<T> = { ok: true; value: T; durationMs: number } | { ok: false; error: SerializedError; durationMs: number };

export interface StageRecord {
  stage: StageName | 'grace';
  outcome: 'succeeded' | 'failed' | 'skipped';
  startedAt: string;
  durationMs: number;
  detail?: string;
}

export interface RotationStatus {
  credentialId: string;
  rotationId?: string;
  role?: string;
  stage: StageName | 'grace' | 'done';
  outcome: 'running' | 'succeeded' | 'failed';
  liveVersion?: string;
  previousVersion?: string;
  stages: StageRecord[];
  error?: SerializedError;
}
