import type { Credential } from '../config/schema';
import type { SecretVersionInfo } from '../targets/key-vault';

/** The rotation's state lives in Key Vault tags, so a rotation whose history is lost can be resumed. */
export const TAG = {
  rotationId: 'rotation-id',
  credential: 'credential',
  role: 'role',
  stage: 'rotation-stage',
  rotatedAt: 'rotated-at',
} as const;

/**
 * On the pending secret. `aborted` (compensate undid it) is set before it is deleted, and
 * `consumed` was set by promote before this version; either way a soft-deleted copy recovered
 * by a later rotation's write reads as a leftover, not as work to resume. Promote no longer
 * spends a write on `consumed`: a copy it deleted carries the live version's rotation id, and
 * begin recovers nothing while that rotation is unfinished (see isSpentPending).
 */
export type PendingStage = 'staged' | 'applied' | 'consumed' | 'aborted';

/** On the live version: promoted until every consumer is confirmed and the old credential retired. */
export type LiveStage = 'promoted' | 'complete';

export function isPromotedButUnfinished(live: Pick<SecretVersionInfo, 'tags'> | undefined): boolean {
  return live?.tags[TAG.stage] === 'promoted';
}

export function pendingSecretName(credential: Credential): string {
  return `${credential.keyVault.secret}-pending`;
}

export function rotationIdOf(secret: SecretVersionInfo | undefined): string | undefined {
  return secret?.tags[TAG.rotationId];
}

/** The rotator's own tags; every other tag on the live secret is an operator's and is kept. */
const ROTATOR_TAGS = new Set<string>(Object.values(TAG));

export function operatorTags(secret: SecretVersionInfo | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(secret?.tags ?? {}).filter(([name]) => !ROTATOR_TAGS.has(name)));
}

/**
 * A pending secret whose rotation is over: promote consumed it or compensate aborted it
 * (a copy recovered from soft delete keeps those tags), or, written before those tags
 * existed, it belongs to the live version's rotation and that rotation completed.
 */
export function isSpentPending(pending: SecretVersionInfo, live: SecretVersionInfo | undefined): boolean {
  const stage = pending.tags[TAG.stage];
  if (stage === 'consumed' || stage === 'aborted') return true;
  return live !== undefined && rotationIdOf(pending) === rotationIdOf(live) && live.tags[TAG.stage] === 'complete';
}

/**
 * A pending secret older than the live version that does not belong to it is a leftover
 * (for example a soft-deleted pending secret recovered by a later write): never resume it.
 */
export function isStalePending(pending: SecretVersionInfo, live: SecretVersionInfo | undefined): boolean {
  if (!live?.createdOn || !pending.createdOn) return false;
  return pending.createdOn < live.createdOn && rotationIdOf(pending) !== rotationIdOf(live);
}
