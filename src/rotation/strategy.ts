import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import type { SecretVersionInfo } from '../targets/key-vault';
import { TAG } from './state';

/**
 * Which login role a rotation sets. Single user: always the one role. Alternating users:
 * the login the live secret does not name (the idle one), so the live login keeps working
 * until every consumer has switched and the grace period has passed.
 */
export function loginRoles(credential: Credential): string[] {
  return credential.strategy === 'alternating-users' ? [...(credential.postgres.roles ?? [])] : [credential.postgres.role!];
}

export function liveRoleOf(credential: Credential, live: SecretVersionInfo | undefined): string {
  const tagged = live?.tags[TAG.role];
  const roles = loginRoles(credential);
  return tagged && roles.includes(tagged) ? tagged : roles[0];
}

export function targetRoleOf(credential: Credential, live: SecretVersionInfo | undefined): string {
  if (credential.strategy !== 'alternating-users') return credential.postgres.role!;
  const current = liveRoleOf(credential, live);
  return loginRoles(credential).find((r) => r !== current)!;
}

export function assertLoginRole(credential: Credential, role: string, stage: string): void {
  if (!loginRoles(credential).includes(role)) {
    throw new RotationError({ code: 'unknown-role', stage, message: `credential "${credential.id}": ${role} is not one of its login roles (${loginRoles(credential).join(', ')})` });
  }
}
