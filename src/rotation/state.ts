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

export type PendingStage = 'staged' | 'applied';

/** On the live version: promoted until every consumer is confirmed and the old credential retired. */
export type LiveStage = 'promoted' | 'complete';

export function isPromotedButUnfinished(live: SecretVersionInfo | undefined): boolean {
  return live?.tags[TAG.stage] === 'promoted';
}

export function pendingSecretName(credential: Credential): string {
  return `${credential.keyVault.secret}-pending`;
}

export function rotationIdOf(secret: SecretVersionInfo | undefined): string | undefined {
  return secret?.tags[TAG.rotationId];
}

/**
 * A pending secret older than the live version that does not belong to it is a leftover
 * (for example a soft-deleted pending secret recovered by a later write): never resume it.
 */
export function isStalePending(pending: SecretVersionInfo, live: SecretVersionInfo | undefined): boolean {
  if (!live?.createdOn || !pending.createdOn) return false;
  return pending.createdOn < live.createdOn && rotationIdOf(pending) !== rotationIdOf(live);
}
