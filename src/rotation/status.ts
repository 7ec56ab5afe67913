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
  /** Container apps, once confirmed: the live version every active revision's replicas now run. */
  version?: string;
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
  /** In the custom status when `targets` there is a selection: how every target fared. */
  targetCounts?: TargetCounts;
}

export interface TargetCounts {
  total: number;
  succeeded: number;
  failed: number;
  skipped: number;
  /** How many of them the custom status lists; the orchestration output lists them all. */
  listed: number;
}

/**
 * The Durable Functions extension refuses a custom status over 16 KB of UTF-16 JSON
 * (`SetCustomStatus` serializes it and checks `Encoding.Unicode.GetByteCount`), which fails
 * the orchestration. Each JavaScript string unit is two bytes of UTF-16.
 */
export const CUSTOM_STATUS_LIMIT_BYTES = 16 * 1024;

export function customStatusBytes(status: unknown): number {
  return JSON.stringify(status).length * 2;
}

/** Up to this many targets are listed in the custom status; beyond, only failed ones, and counts. */
export const STATUS_TARGETS_LISTED = 8;
const STATUS_MESSAGE_CHARS = 200;
const STATUS_ERROR_CHARS = 600;
/** Room left under the limit for what grows without bound elsewhere (stage details, unpublished steps). */
const STATUS_BUDGET_BYTES = CUSTOM_STATUS_LIMIT_BYTES / 2;

/**
 * The custom status as published: small whatever the number of targets. The full status,
 * every target with its whole message, is the orchestration's output.
 */
export function compactStatus(status: RotationStatus): RotationStatus {
  const compact: RotationStatus = { ...status, error: status.error && { ...status.error, message: capped(status.error.message, STATUS_ERROR_CHARS) } };
  const targets = status.targets;
  if (!targets || targets.length <= STATUS_TARGETS_LISTED) return { ...compact, targets: targets?.map(cappedTarget) };
  const listed = targets.filter((t) => t.outcome === 'failed').slice(0, STATUS_TARGETS_LISTED).map(cappedTarget);
  while (listed.length > 0 && customStatusBytes({ ...compact, targets: listed }) > STATUS_BUDGET_BYTES) listed.pop();
  const count = (outcome: TargetResult['outcome']) => targets.filter((t) => t.outcome === outcome).length;
  return { ...compact, targets: listed, targetCounts: { total: targets.length, succeeded: count('succeeded'), failed: count('failed'), skipped: count('skipped'), listed: listed.length } };
}

function cappedTarget(t: TargetResult): TargetResult {
  return t.message === undefined ? t : { ...t, message: capped(t.message, STATUS_MESSAGE_CHARS) };
}

function capped(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}
