import { findCredential } from '../config/load';
import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import type { KeyVaultSecrets, SecretVersionInfo } from '../targets/key-vault';
import type { PostgresTarget } from '../targets/postgres';
import { checkServerAndRoles } from './begin-checks';
import { consumerTargets, templateFields, type TargetKey } from './consumers';
import type { Logger, RotationDeps } from './deps';
import { generatePassword, scramSha256Verifier } from './password';
import { isPromotedButUnfinished, isSpentPending, isStalePending, operatorTags, pendingSecretName, rotationIdOf, TAG, type PendingStage } from './state';
import { assertLoginRole, liveRoleOf, loginRoles, targetRoleOf } from './strategy';
import { renderTemplate } from './templates';

/**
 * The stages of ARCHITECTURE.md's table. Each opens with "is my work already done?" and
 * returns early, so a retried or redelivered activity is harmless. Inputs and outputs are
 * ids, role names and versions only: values are read from Key Vault inside the stage.
 */

export interface RotationIds {
  credentialId: string;
  rotationId: string;
}

/** After begin: which login role this rotation sets. */
export interface RotationRef extends RotationIds {
  role: string;
}

export interface Plan extends RotationRef {
  strategy: Credential['strategy'];
  /** The login the live secret names now; alternating users retire it at the end. */
  liveRole: string;
  liveVersion?: string;
  pendingVersion?: string;
  /** The rotation id came from a pending secret (or an unfinished live version) left by an earlier run. */
  resumed: boolean;
  /** The live secret already carries this rotation id: promote only cleans up, then the consumers. */
  alreadyPromoted: boolean;
  /** Whether the live secret logged in before anything changed (null: not checked). */
  liveAuthenticates: boolean | null;
  graceMinutes: number;
  targets: TargetKey[];
  confirmTimeoutMinutes: number;
}

interface Scope {
  credential: Credential;
  vault: KeyVaultSecrets;
  postgres: PostgresTarget;
  pendingName: string;
  alternating: boolean;
}

function scope(deps: RotationDeps, credentialId: string, stage: string, role?: string): Scope {
  const credential = findCredential(deps.config, credentialId, stage);
  if (role !== undefined) assertLoginRole(credential, role, stage);
  return { credential, vault: deps.vault(credential.keyVault.url), postgres: deps.postgres(credential), pendingName: pendingSecretName(credential), alternating: credential.strategy === 'alternating-users' };
}

export async function begin(deps: RotationDeps, input: RotationIds, log: Logger): Promise<Plan> {
  const s = scope(deps, input.credentialId, 'begin');
  await checkServerAndRoles(s.credential, s.postgres);
  const live = await s.vault.latest('begin', s.credential.keyVault.secret);
  let pending = await s.vault.latest('begin', s.pendingName);
  if (pending && (isSpentPending(pending, live) || isStalePending(pending, live))) {
    log.warn(`begin: removing leftover pending secret ${s.pendingName} version ${pending.version} (rotation ${rotationIdOf(pending) ?? '(none)'} is over; live is ${live?.version})`);
    await s.vault.remove('begin', s.pendingName);
    pending = undefined;
  }
  if (pending && (!rotationIdOf(pending) || !loginRoles(s.credential).includes(pending.tags[TAG.role]))) {
    throw new RotationError({ code: 'foreign-pending-secret', stage: 'begin', message: `secret ${s.pendingName} exists but was not written by a rotation of ${loginRoles(s.credential).join(' or ')}; remove it or let the janitor abort it` });
  }
  // A live version promoted by a run that never finished: its consumers may not have it yet.
  const unfinished = !pending && isPromotedButUnfinished(live) ? rotationIdOf(live) : undefined;
  const rotationId = rotationIdOf(pending) ?? unfinished ?? input.rotationId;
  const alreadyPromoted = live !== undefined && rotationIdOf(live) === rotationId;
  const liveRole = liveRoleOf(s.credential, live);
  const role = pending ? pending.tags[TAG.role] : alreadyPromoted ? liveRole : targetRoleOf(s.credential, live);
  const liveAuthenticates = live && !pending && !alreadyPromoted ? await s.postgres.canLogin('begin', liveRole, await s.vault.value('begin', live.name, live.version)) : null;
  if (liveAuthenticates === false) log.warn(`begin: the live secret ${live?.name} version ${live?.version} does not log in as ${liveRole}; this rotation will repair it`);
  return {
    credentialId: s.credential.id,
    rotationId,
    role,
    strategy: s.credential.strategy,
    liveRole: alreadyPromoted ? previousRoleOf(s, role) : liveRole,
    liveVersion: live?.version,
    pendingVersion: pending?.version,
    resumed: pending !== undefined || unfinished !== undefined,
    alreadyPromoted,
    liveAuthenticates,
    graceMinutes: s.credential.graceMinutes,
    targets: consumerTargets(s.credential),
    confirmTimeoutMinutes: s.credential.confirmTimeoutMinutes,
  };
}

/** With alternating users, the login a promoted rotation replaced is the other one. */
function previousRoleOf(s: Scope, role: string): string {
  return loginRoles(s.credential).find((r) => r !== role) ?? role;
}

export async function stage(deps: RotationDeps, input: RotationRef): Promise<{ pendingVersion: string; reused: boolean }> {
  const s = scope(deps, input.credentialId, 'stage', input.role);
  const pending = await s.vault.latest('stage', s.pendingName);
  if (pending && rotationIdOf(pending) === input.rotationId && !isSpentPending(pending, undefined)) return { pendingVersion: pending.version, reused: true };
  // A spent copy (recovered from soft delete by an earlier attempt of this write) is overwritten.
  if (pending && !isSpentPending(pending, undefined)) throw new RotationError({ code: 'foreign-pending-secret', stage: 'stage', message: `secret ${s.pendingName} belongs to rotation ${rotationIdOf(pending) ?? '(none)'}` });
  const written = await s.vault.write('stage', s.pendingName, generatePassword(s.credential.password.length), { tags: pendingTags(s, input, 'staged') });
  return { pendingVersion: written.version, reused: false };
}

export interface PendingRef extends RotationRef {
  pendingVersion: string;
}

export async function apply(deps: RotationDeps, input: PendingRef): Promise<{ skipped: boolean }> {
  const s = scope(deps, input.credentialId, 'apply', input.role);
  const password = await s.vault.value('apply', s.pendingName, input.pendingVersion);
  const skipped = await s.postgres.canLogin('apply', input.role, password);
  if (!skipped) await s.postgres.setPasswordVerifier('apply', input.role, await scramSha256Verifier(password), { login: s.alternating });
  await s.vault.setTags('apply', s.pendingName, input.pendingVersion, pendingTags(s, input, 'applied'));
  return { skipped };
}

export async function verify(deps: RotationDeps, input: PendingRef): Promise<{ latencyMs: number }> {
  const s = scope(deps, input.credentialId, 'verify', input.role);
  const password = await s.vault.value('verify', s.pendingName, input.pendingVersion);
  try {
    return await s.postgres.probe('verify', input.role, password, s.credential.postgres.probeQuery);
  } catch (error) {
    if (error instanceof RotationError && error.code === 'login-refused') {
      throw new RotationError({ code: 'verify-failed', stage: 'verify', message: `the new password of ${input.role} (pending version ${input.pendingVersion}) does not log in` });
    }
    if (error instanceof RotationError && error.code === 'login-not-permitted') {
      throw new RotationError({ code: 'login-not-permitted', stage: 'verify', message: `role ${input.role} is not permitted to log in at all (NOLOGIN, or no pg_hba.conf entry), whatever its password: ${error.message}` });
    }
    throw error;
  }
}

export interface Promoted {
  liveVersion: string;
  previousVersion?: string;
  skipped: boolean;
}

export async function promote(deps: RotationDeps, input: RotationRef & { pendingVersion?: string }): Promise<Promoted> {
  const s = scope(deps, input.credentialId, 'promote', input.role);
  const live = await s.vault.latest('promote', s.credential.keyVault.secret);
  let promoted: Promoted;
  if (live && rotationIdOf(live) === input.rotationId) {
    promoted = { liveVersion: live.version, skipped: true };
  } else {
    if (!input.pendingVersion) throw new RotationError({ code: 'nothing-to-promote', stage: 'promote', message: `rotation ${input.rotationId} has no pending version to promote` });
    const password = await s.vault.value('promote', s.pendingName, input.pendingVersion);
    const now = deps.now();
    const written = await s.vault.write('promote', s.credential.keyVault.secret, password, {
      tags: { ...operatorTags(live), [TAG.rotationId]: input.rotationId, [TAG.credential]: s.credential.id, [TAG.role]: input.role, [TAG.rotatedAt]: now.toISOString(), [TAG.stage]: 'promoted' },
      expiresOn: new Date(now.getTime() + s.credential.validityDays * 86_400_000),
      contentType: live?.contentType,
    });
    promoted = { liveVersion: written.version, previousVersion: live?.version, skipped: false };
  }
  await writeDerived(deps, s, input.rotationId, promoted.liveVersion);
  await removePending(s, 'promote', input.rotationId, 'consumed');
  return promoted;
}

/** Marks our pending secret spent before deleting it, so a copy recovered from soft delete is never resumed. */
async function removePending(s: Scope, stage: string, rotationId: string, spent: 'consumed' | 'aborted'): Promise<boolean> {
  const pending = await s.vault.latest(stage, s.pendingName);
  if (!pending || rotationIdOf(pending) !== rotationId) return false;
  if (pending.tags[TAG.stage] !== spent) await s.vault.setTags(stage, s.pendingName, pending.version, { ...pending.tags, [TAG.stage]: spent });
  return s.vault.remove(stage, s.pendingName);
}

/** Derived secrets follow the live version; one already written by this rotation is left alone. */
async function writeDerived(deps: RotationDeps, s: Scope, rotationId: string, liveVersion: string): Promise<void> {
  if (s.credential.keyVault.derived.length === 0) return;
  const fields = await templateFields(deps, s.credential, liveVersion);
  for (const d of s.credential.keyVault.derived) {
    const current = await s.vault.latest('promote', d.secret);
    if (rotationIdOf(current) === rotationId) continue;
    const tags = { ...operatorTags(current), [TAG.rotationId]: rotationId, [TAG.credential]: s.credential.id, [TAG.role]: fields.user };
    await s.vault.write('promote', d.secret, renderTemplate(d.template, fields), { tags, contentType: current?.contentType });
  }
}

export interface LiveState extends RotationRef {
  liveRole: string;
  liveVersion: string;
  targets: TargetKey[];
  graceMinutes: number;
  confirmTimeoutMinutes: number;
}

/** For a re-propagation: the live version as it stands, no new password. */
export async function live(deps: RotationDeps, input: { credentialId: string }): Promise<LiveState> {
  const s = scope(deps, input.credentialId, 'live');
  const current = await s.vault.latest('live', s.credential.keyVault.secret);
  if (!current) throw new RotationError({ code: 'no-live-secret', stage: 'live', message: `Key Vault has no secret ${s.credential.keyVault.secret} to propagate` });
  const role = liveRoleOf(s.credential, current);
  return {
    credentialId: s.credential.id,
    rotationId: rotationIdOf(current) ?? `propagate-${current.version}`,
    role,
    liveRole: previousRoleOf(s, role),
    liveVersion: current.version,
    targets: consumerTargets(s.credential),
    graceMinutes: s.credential.graceMinutes,
    confirmTimeoutMinutes: s.credential.confirmTimeoutMinutes,
  };
}

export interface Retired {
  disabledVersions: string[];
  retiredRole?: string;
  sessions?: number;
  endedSessions?: number;
}

/**
 * After every consumer is confirmed and the grace period has passed: older versions are
 * disabled, and with alternating users the previous login stops accepting logins (its
 * sessions ended, or only counted). Then the live version is marked complete.
 */
export async function retire(deps: RotationDeps, input: RotationRef & { liveVersion: string; previousRole: string }): Promise<Retired> {
  const s = scope(deps, input.credentialId, 'retire', input.role);
  const retired: Retired = { disabledVersions: await s.vault.disableOtherVersions('retire', s.credential.keyVault.secret, input.liveVersion) };
  if (s.alternating && input.previousRole !== input.role) {
    assertLoginRole(s.credential, input.previousRole, 'retire');
    const { sessions, ended } = await s.postgres.retireLogin('retire', input.previousRole, s.credential.retireSessions === 'end');
    Object.assign(retired, { retiredRole: input.previousRole, sessions, endedSessions: ended });
  }
  const live = await s.vault.latest('retire', s.credential.keyVault.secret);
  if (live?.version === input.liveVersion && live.tags[TAG.stage] !== 'complete') await s.vault.setTags('retire', live.name, live.version, { ...live.tags, [TAG.stage]: 'complete' });
  return retired;
}

export interface Compensation {
  restored: boolean;
  cleared: boolean;
  pendingRemoved: boolean;
}

/**
 * Undo before promote. Single user: the role gets the live password back (with no live
 * secret, no password at all rather than one only the database knows). Alternating users:
 * the live login was never touched; the idle login loses the password it was given.
 */
export async function compensate(deps: RotationDeps, input: RotationRef, log: Logger): Promise<Compensation> {
  const s = scope(deps, input.credentialId, 'compensate', input.role);
  const pending = await s.vault.latest('compensate', s.pendingName);
  const ours = pending && rotationIdOf(pending) === input.rotationId ? pending : undefined;
  const live = await s.vault.latest('compensate', s.credential.keyVault.secret);
  const result: Compensation = { restored: false, cleared: false, pendingRemoved: false };
  if (s.alternating) {
    if (ours && input.role !== liveRoleOf(s.credential, live)) result.cleared = await clearIfApplied(s, input.role, ours, true);
  } else if (live) result.restored = await restoreLive(s, input.role, live);
  else if (ours) result.cleared = await clearIfApplied(s, input.role, ours, false);
  if (ours) result.pendingRemoved = await removePending(s, 'compensate', input.rotationId, 'aborted');
  log.info(`compensate: role ${input.role} restored=${result.restored} cleared=${result.cleared} pendingRemoved=${result.pendingRemoved}`);
  return result;
}

async function restoreLive(s: Scope, role: string, live: SecretVersionInfo): Promise<boolean> {
  const password = await s.vault.value('compensate', live.name, live.version);
  if (await s.postgres.canLogin('compensate', role, password)) return false;
  await s.postgres.setPasswordVerifier('compensate', role, await scramSha256Verifier(password));
  return true;
}

async function clearIfApplied(s: Scope, role: string, pending: SecretVersionInfo, nologin: boolean): Promise<boolean> {
  const password = await s.vault.value('compensate', pending.name, pending.version);
  if (!(await s.postgres.canLogin('compensate', role, password))) return false;
  await s.postgres.clearPassword('compensate', role, { nologin });
  return true;
}

function pendingTags(s: Scope, ref: RotationRef, stage: PendingStage): Record<string, string> {
  return { [TAG.rotationId]: ref.rotationId, [TAG.credential]: s.credential.id, [TAG.role]: ref.role, [TAG.stage]: stage };
}
