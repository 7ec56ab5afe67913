import { findCredential } from '../config/load';
import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import type { KeyVaultSecrets, SecretVersionInfo } from '../targets/key-vault';
import type { PostgresTarget } from '../targets/postgres';
import { refuseUnready } from './readiness';
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
  graceMinutes: number;
  targets: TargetKey[];
  confirmTimeoutMinutes: number;
  /** What promote keeps of the live version it replaces: the operator's tags and the content type. */
  keep: LiveKeep;
}

/** Not secret: tags an operator set on the live secret, and its content type. */
export interface LiveKeep {
  tags: Record<string, string>;
  contentType?: string;
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

/**
 * Reads the live secret and any pending one, decides start or resume and picks the role.
 * Key Vault only: what PostgreSQL must allow is checked by apply, in the admin session that
 * then changes the role, before anything is written anywhere.
 */
export async function begin(deps: RotationDeps, input: RotationIds, log: Logger): Promise<Plan> {
  const s = scope(deps, input.credentialId, 'begin');
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
    graceMinutes: s.credential.graceMinutes,
    targets: consumerTargets(s.credential),
    confirmTimeoutMinutes: s.credential.confirmTimeoutMinutes,
    keep: { tags: operatorTags(live), contentType: live?.contentType },
  };
}

/** With alternating users, the login a promoted rotation replaced is the other one. */
function previousRoleOf(s: Scope, role: string): string {
  return loginRoles(s.credential).find((r) => r !== role) ?? role;
}

export interface PendingRef extends RotationRef {
  pendingVersion: string;
}

export interface ApplyRequest extends RotationRef {
  /** The pending version begin found (a resumed rotation); absent: stage writes one. */
  pendingVersion?: string;
  resumed: boolean;
}

export interface Applied {
  pendingVersion: string;
  skipped: boolean;
  /** What stage did inside apply: wrote the pending secret, or reused the one begin found. */
  staged: { reused: boolean; durationMs: number };
}

/**
 * Stage and apply in one admin session: first what must hold before anything is written (the
 * server takes SCRAM-SHA-256 logins, each login role exists and may log in), then stage
 * writes the pending secret to Key Vault, then its verifier is set. So a refusal writes
 * nothing, and the role is read moments before it is changed. A resumed pending secret may
 * already be applied: a login with it is tried first, and apply skips if it works.
 *
 * Run again after a crash, stage writes a new pending version and apply sets that one: the
 * role's password is always the pending secret's latest version, written first.
 */
export async function apply(deps: RotationDeps, input: ApplyRequest): Promise<Applied> {
  const s = scope(deps, input.credentialId, 'apply', input.role);
  if (input.pendingVersion && input.resumed && (await s.postgres.canLogin('apply', input.role, await s.vault.value('apply', s.pendingName, input.pendingVersion)))) {
    return { pendingVersion: input.pendingVersion, skipped: true, staged: { reused: true, durationMs: 0 } };
  }
  const group = s.alternating ? s.credential.postgres.group : undefined;
  let staged: Applied['staged'] | undefined;
  let pendingVersion = input.pendingVersion;
  await s.postgres.setPasswordChecked('apply', { roles: loginRoles(s.credential), group }, input.role, async (readiness) => {
    refuseUnready(s.credential, readiness);
    const started = performance.now();
    let password: string;
    if (pendingVersion) password = await s.vault.value('stage', s.pendingName, pendingVersion);
    else {
      password = generatePassword(s.credential.password.length);
      pendingVersion = (await s.vault.write('stage', s.pendingName, password, { tags: pendingTags(s, input, 'staged') })).version;
    }
    staged = { reused: input.pendingVersion !== undefined, durationMs: Math.round(performance.now() - started) };
    return scramSha256Verifier(password);
  }, { login: s.alternating });
  return { pendingVersion: pendingVersion!, skipped: false, staged: staged! };
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

/**
 * Writes the pending value as the new live version, then the derived secrets, then deletes
 * the pending secret (without waiting: the next write of that name is a rotation later).
 * `alreadyPromoted` (begin found the live version carrying this rotation id) skips the write.
 * A promote retried after its write landed writes the same value again; retire disables
 * every version but the live one, so the extra version never outlives the rotation.
 */
export async function promote(deps: RotationDeps, input: PromoteRequest): Promise<Promoted> {
  const s = scope(deps, input.credentialId, 'promote', input.role);
  if (!input.alreadyPromoted && !input.pendingVersion) throw new RotationError({ code: 'nothing-to-promote', stage: 'promote', message: `rotation ${input.rotationId} has no pending version to promote` });
  // A promote run again after its delete landed finds no pending secret: the live one is ours.
  const password = input.alreadyPromoted ? undefined : await pendingValue(s, input.pendingVersion!);
  let promoted: Promoted;
  if (password === undefined) {
    const live = await s.vault.latest('promote', s.credential.keyVault.secret);
    if (!live || rotationIdOf(live) !== input.rotationId) throw new RotationError({ code: 'nothing-to-promote', stage: 'promote', message: `rotation ${input.rotationId} has no pending secret left and the live secret ${s.credential.keyVault.secret} carries rotation ${rotationIdOf(live) ?? '(none)'}` });
    promoted = { liveVersion: live.version, skipped: true };
  } else {
    const now = deps.now();
    const written = await s.vault.write('promote', s.credential.keyVault.secret, password, {
      tags: { ...input.keep?.tags, [TAG.rotationId]: input.rotationId, [TAG.credential]: s.credential.id, [TAG.role]: input.role, [TAG.rotatedAt]: now.toISOString(), [TAG.stage]: 'promoted' },
      expiresOn: new Date(now.getTime() + s.credential.validityDays * 86_400_000),
      contentType: input.keep?.contentType,
    });
    promoted = { liveVersion: written.version, previousVersion: input.previousVersion, skipped: false };
  }
  await writeDerived(deps, s, input.rotationId, promoted.liveVersion);
  if (input.pendingVersion) await s.vault.remove('promote', s.pendingName, { wait: false });
  return promoted;
}

/** The pending value, or undefined when the pending secret is gone (deleted by this promote's earlier run). */
async function pendingValue(s: Scope, version: string): Promise<string | undefined> {
  try {
    return await s.vault.value('promote', s.pendingName, version);
  } catch (error) {
    if (error instanceof RotationError && error.code === 'secret-not-found') return undefined;
    throw error;
  }
}

export interface PromoteRequest extends RotationRef {
  pendingVersion?: string;
  alreadyPromoted?: boolean;
  /** The live version begin read, which this promote replaces. */
  previousVersion?: string;
  keep?: LiveKeep;
}

/** Marks our pending secret aborted before deleting it, so a copy recovered from soft delete is never resumed. */
async function abortPending(s: Scope, rotationId: string): Promise<boolean> {
  const pending = await s.vault.latest('compensate', s.pendingName);
  if (!pending || rotationIdOf(pending) !== rotationId) return false;
  if (pending.tags[TAG.stage] !== 'aborted') await s.vault.setTags('compensate', s.pendingName, pending.version, { ...pending.tags, [TAG.stage]: 'aborted' });
  return s.vault.remove('compensate', s.pendingName);
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
  const versions = await s.vault.versions('retire', s.credential.keyVault.secret);
  const older = versions.filter((v) => v.enabled && v.version !== input.liveVersion);
  const retired: Retired = { disabledVersions: await s.vault.disable('retire', s.credential.keyVault.secret, older.map((v) => v.version)) };
  if (s.alternating && input.previousRole !== input.role) {
    assertLoginRole(s.credential, input.previousRole, 'retire');
    const { sessions, ended } = await s.postgres.retireLogin('retire', input.previousRole, s.credential.retireSessions === 'end');
    Object.assign(retired, { retiredRole: input.previousRole, sessions, endedSessions: ended });
  }
  // The listing carries every version's tags: the live one is marked complete while it is the newest.
  const live = newest(versions, input.liveVersion);
  if (live?.version === input.liveVersion && live.tags[TAG.stage] !== 'complete') await s.vault.setTags('retire', live.name, live.version, { ...live.tags, [TAG.stage]: 'complete' });
  return retired;
}

/** Key Vault's `created` has one-second precision: on a tie, the version this rotation knows as live. */
function newest(versions: SecretVersionInfo[], live: string): SecretVersionInfo | undefined {
  const later = (v: SecretVersionInfo, than: SecretVersionInfo) => (v.createdOn ?? '') > (than.createdOn ?? '') || (v.createdOn === than.createdOn && v.version === live);
  return versions.reduce<SecretVersionInfo | undefined>((a, v) => (!a || later(v, a) ? v : a), undefined);
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
  // With no pending secret of this rotation, nothing of it reached PostgreSQL (invariant 1): a
  // refusal or a failed stage before the write has nothing to undo, and no role is touched.
  if (!ours) {
    log.info(`compensate: rotation ${input.rotationId} wrote no pending secret; nothing to undo`);
    return result;
  }
  // The idle login (alternating) or a role with no live secret is cleared without asking
  // PostgreSQL first: a login probe is refused by the very faults that fail verify (the
  // server refusing logins, a connection limit), and a refusal read as "never applied" left
  // a login holding a password only the aborted pending secret had (soak seeds 100343, 100465).
  if (s.alternating) {
    if (input.role !== liveRoleOf(s.credential, live)) result.cleared = await clearPassword(s, input.role, { nologin: true });
  } else if (live) result.restored = await restoreLive(s, input.role, live);
  else result.cleared = await clearPassword(s, input.role, { nologin: false });
  result.pendingRemoved = await abortPending(s, input.rotationId);
  log.info(`compensate: role ${input.role} restored=${result.restored} cleared=${result.cleared} pendingRemoved=${result.pendingRemoved}`);
  return result;
}

async function restoreLive(s: Scope, role: string, live: SecretVersionInfo): Promise<boolean> {
  const password = await s.vault.value('compensate', live.name, live.version);
  if (await s.postgres.canLogin('compensate', role, password)) return false;
  await s.postgres.setPasswordVerifier('compensate', role, await scramSha256Verifier(password));
  return true;
}

/** No password (and, for an idle alternating login, no LOGIN): the state it had before apply, whether or not apply reached it. */
const clearPassword = (s: Scope, role: string, options: { nologin: boolean }) => s.postgres.clearPassword('compensate', role, options).then(() => true);

function pendingTags(s: Scope, ref: RotationRef, stage: PendingStage): Record<string, string> {
  return { [TAG.rotationId]: ref.rotationId, [TAG.credential]: s.credential.id, [TAG.role]: ref.role, [TAG.stage]: stage };
}
