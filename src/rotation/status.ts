import type { SerializedError } from '../errors';

/** The rotation's observable state: kept as the orchestration's custom status, published in events, shown by the API. */

export const STAGES = ['begin', 'live', 'stage', 'apply', 'verify', 'promote', 'propagate', 'confirm', 'retire', 'compensate'] as const;
export type StageName = (typeof STAGES)[number];

export type RotationReason = 'manual' | 'near-expiry' | 'expired' | 'scheduled' | 'janitor' | 'sandbox' | 'drift';

export interface StageRecord {
  stage: StageName | 'grace';
  outcome: 'succeeded' | 'failed' | 'skipped';
  startedAt: string;
  durationMs: number;
  detail?: string;
  /** Activity executions it took (durable retries of transient failures), propagation rounds, or confirm polls. */
  attempts?: number;
}

/** The outcome of pushing the new credential to one consumer. */
export interface TargetResult {
  kind: 'github' | 'container-app';
  /** The configuration key (`github:0`, `container-app:1`) a re-propagation names. */
  key?: string;
  /** Where it went: `owner/repo:NAME`, `org:NAME`, or the container app's resource path. */
  target: string;
  outcome: 'succeeded' | 'failed' | 'skipped';
  errorCode?: string;
  /** Our own message (target, status, service error text); kept in the status, not sent in events. */
  message?: string;
}

export interface RotationStatus {
  credentialId: string;
  rotationId?: string;
  role?: string;
  stage: StageName | 'grace' | 'done';
  outcome: 'running' | 'succeeded' | 'degraded' | 'failed';
  liveVersion?: string;
  previousVersion?: string;
  reason?: RotationReason;
  stages: StageRecord[];
  targets?: TargetResult[];
  error?: SerializedError;
  /** Alternating users: the login retired after the grace period, and its sessions at that moment. */
  retiredLogin?: { role: string; sessions: number; endedSessions: number };
  /** Lifecycle events this rotation emitted, in order, and whether the topic took each. */
  events?: { step: string; at: string; published: boolean }[];
  /** Lifecycle events that could not be published (reported here, never failing the rotation). */
  unpublished?: string[];
}
