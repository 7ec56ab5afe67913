import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import type { LoginRules, PasswordSettings, Readiness } from '../targets/postgres';

/**
 * What must hold before anything is written: a server that refuses SCRAM-SHA-256 logins, or
 * a login role that cannot log in whatever its password, would otherwise surface as a new
 * password that "does not log in", after the role was changed. Apply reads it in the admin
 * session that then changes the role, and refuses with the codes below.
 */
export function refuseUnready(credential: Credential, readiness: Readiness): void {
  checkScramAccepted(credential, readiness.settings);
  const group = credential.strategy === 'alternating-users' ? credential.postgres.group : undefined;
  for (const [role, rules] of readiness.roles) {
    if (!rules) refuse(credential, 'unknown-role', `role ${role} does not exist on ${credential.postgres.host}`);
    checkRole(credential, role, rules);
    if (group && rules.memberOfGroup === false) {
      refuse(credential, 'misconfigured-role', `login ${role} is not a member of group ${group}; run the alternating-users bootstrap or rotator adopt first`);
    }
  }
}

/**
 * The rotator stores SCRAM-SHA-256 verifiers. `password_encryption` must say so, and Azure
 * Database for PostgreSQL also lists the methods it accepts in
 * `azure.accepted_password_auth_method` (https://learn.microsoft.com/azure/postgresql/flexible-server/security-connect-scram).
 */
function checkScramAccepted(credential: Credential, settings: PasswordSettings): void {
  if (settings.passwordEncryption !== 'scram-sha-256') {
    refuse(credential, 'scram-not-accepted', `server ${credential.postgres.host} has password_encryption = ${settings.passwordEncryption}; the rotator stores SCRAM-SHA-256 verifiers, so set password_encryption to scram-sha-256`);
  }
  const accepted = settings.azureAccepted?.split(',').map((m) => m.trim().toLowerCase());
  if (accepted && !accepted.includes('scram-sha-256')) {
    refuse(credential, 'scram-not-accepted', `server ${credential.postgres.host} has azure.accepted_password_auth_method = ${settings.azureAccepted}, which does not accept SCRAM-SHA-256 logins; add scram-sha-256 to it`);
  }
}

/** Alternating users' idle login is NOLOGIN by design (apply lets it log in again); a single user's role must log in. */
function checkRole(credential: Credential, role: string, rules: LoginRules): void {
  if (!rules.canLogin && credential.strategy === 'single-user') {
    refuse(credential, 'role-nologin', `role ${role} is NOLOGIN, so no password lets it log in; run ALTER ROLE ${role} LOGIN if it should`);
  }
  if (rules.connectionLimit === 0) {
    refuse(credential, 'role-connection-limit', `role ${role} has CONNECTION LIMIT 0, so no password lets it log in; raise the limit (ALTER ROLE ${role} CONNECTION LIMIT -1)`);
  }
  if (rules.expired) {
    refuse(credential, 'role-expired', `role ${role} has VALID UNTIL ${rules.validUntil} in the past, so the server refuses every password; run ALTER ROLE ${role} VALID UNTIL 'infinity' or a later date`);
  }
}

function refuse(credential: Credential, code: string, message: string): never {
  throw new RotationError({ code, stage: 'apply', message: `credential "${credential.id}": ${message}` });
}
