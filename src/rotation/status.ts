import type { SerializedError } from '../errors';

/** The rotation's observable state: kept as the orchestration's custom status, published in events, shown by the API. */

export const STAGES = ['begin', 'stage', 'apply', 'verify', 'promote', 'retire', 'compensate'] as const;
export type StageName = (typeof STAGES)[number];

export type RotationReason = 'manual' | 'near-expiry' | 'expired' | 'scheduled' | 'janitor' | 'sandbox';

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
