import { findCredential } from '../config/load';
import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import type { KeyVaultSecrets, SecretVersionInfo } from '../targets/key-vault';
import type { PostgresTarget } from '../targets/postgres';
import { consumerTargets, templateFields, type TargetKey } from './consumers';
import type { Logger, RotationDeps } from './deps';
import { generatePassword, scramSha256Verifier } from './password';
import { isStalePending, pendingSecretName, rotationIdOf, TAG, type PendingStage } from './state';
import { renderTemplate } from './templates';

/**
 * The stages of ARCHITECTURE.md's table. Each opens with "is my work already done?" and
 * returns early, so a retried or redelivered activity is harmless. Inputs and outputs are
 * ids and versions only: values are read from Key Vault inside the stage that needs them.
 */

export interface RotationIds {
  credentialId: string;
  rotationId: string;
}

export interface Plan extends RotationIds {
  role: string;
  strategy: Credential['strategy'];
  liveVersion?: string;
  pendingVersion?: string;
  /** The rotation id came from a pending secret left by an earlier run whose history is gone. */
  resumed: boolean;
  /** The live secret already carries this rotation id: only the clean-up of promote is left. */
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
  role: string;
  pendingName: string;
}

function scope(deps: RotationDeps, credentialId: string, stage: string): Scope {
  const credential = findCredential(deps.config, credentialId, stage);
  if (credential.strategy !== 'single-user' || !credential.postgres.role) {
    throw new RotationError({ code: 'strategy-not-supported', stage, message: `credential "${credential.id}": the ${credential.strategy} strategy is not available in this version` });
  }
  return { credential, vault: deps.vault(credential.keyVault.url), postgres: deps.postgres(credential), role: credential.postgres.role, pendingName: pendingSecretName(credential) };
}

export async function begin(deps: RotationDeps, input: RotationIds, log: Logger): Promise<Plan> {
  const s = scope(deps, input.credentialId, 'begin');
  if (!(await s.postgres.roleExists('begin', s.role))) {
    throw new RotationError({ code: 'unknown-role', stage: 'begin', message: `credential "${s.credential.id}": role ${s.role} does not exist on ${s.credential.postgres.host}` });
  }
  const live = await s.vault.latest('begin', s.credential.keyVault.secret);
  let pending = await s.vault.latest('begin', s.pendingName);
  if (pending && isStalePending(pending, live)) {
    log.warn(`begin: removing stale pending secret ${s.pendingName} version ${pending.version} (older than live ${live?.version})`);
    await s.vault.remove('begin', s.pendingName);
    pending = undefined;
  }
  if (pending && (!rotationIdOf(pending) || pending.tags[TAG.role] !== s.role)) {
    throw new RotationError({ code: 'foreign-pending-secret', stage: 'begin', message: `secret ${s.pendingName} exists but was not written by a rotation of role ${s.role}; remove it or let the janitor abort it` });
  }
  const rotationId = rotationIdOf(pending) ?? input.rotationId;
  const alreadyPromoted = live !== undefined && rotationIdOf(live) === rotationId;
  const liveAuthenticates = live && !pending ? await s.postgres.canLogin('begin', s.role, await s.vault.value('begin', live.name, live.version)) : null;
  if (liveAuthenticates === false) log.warn(`begin: the live secret ${live?.name} version ${live?.version} does not log in as ${s.role}; this rotation will repair it`);
  return {
    credentialId: s.credential.id,
    rotationId,
    role: s.role,
    strategy: s.credential.strategy,
    liveVersion: live?.version,
    pendingVersion: pending?.version,
    resumed: pending !== undefined,
    alreadyPromoted,
    liveAuthenticates,
    graceMinutes: s.credential.graceMinutes,
    targets: consumerTargets(s.credential),
    confirmTimeoutMinutes: s.credential.confirmTimeoutMinutes,
  };
}

export async function stage(deps: RotationDeps, input: RotationIds): Promise<{ pendingVersion: string; reused: boolean }> {
  const s = scope(deps, input.credentialId, 'stage');
  const pending = await s.vault.latest('stage', s.pendingName);
  if (pending && rotationIdOf(pending) === input.rotationId) return { pendingVersion: pending.version, reused: true };
  if (pending) throw new RotationError({ code: 'foreign-pending-secret', stage: 'stage', message: `secret ${s.pendingName} belongs to rotation ${rotationIdOf(pending) ?? '(none)'}` });
  const written = await s.vault.write('stage', s.pendingName, generatePassword(s.credential.password.length), { tags: pendingTags(s, input.rotationId, 'staged') });
  return { pendingVersion: written.version, reused: false };
}

export interface PendingRef extends RotationIds {
  pendingVersion: string;
}

export async function apply(deps: RotationDeps, input: PendingRef): Promise<{ skipped: boolean }> {
  const s = scope(deps, input.credentialId, 'apply');
  const password = await s.vault.value('apply', s.pendingName, input.pendingVersion);
  const skipped = await s.postgres.canLogin('apply', s.role, password);
  if (!skipped) await s.postgres.setPasswordVerifier('apply', s.role, await scramSha256Verifier(password));
  await s.vault.setTags('apply', s.pendingName, input.pendingVersion, pendingTags(s, input.rotationId, 'applied'));
  return { skipped };
}

export async function verify(deps: RotationDeps, input: PendingRef): Promise<{ latencyMs: number }> {
  const s = scope(deps, input.credentialId, 'verify');
  const password = await s.vault.value('verify', s.pendingName, input.pendingVersion);
  try {
    return await s.postgres.probe('verify', s.role, password, s.credential.postgres.probeQuery);
  } catch (error) {
    if (error instanceof RotationError && error.code === 'login-refused') {
      throw new RotationError({ code: 'verify-failed', stage: 'verify', message: `the new password of ${s.role} (pending version ${input.pendingVersion}) does not log in` });
    }
    throw error;
  }
}

export interface Promoted {
  liveVersion: string;
  previousVersion?: string;
  skipped: boolean;
}

export async function promote(deps: RotationDeps, input: RotationIds & { pendingVersion?: string }): Promise<Promoted> {
  const s = scope(deps, input.credentialId, 'promote');
  const live = await s.vault.latest('promote', s.credential.keyVault.secret);
  let promoted: Promoted;
  if (live && rotationIdOf(live) === input.rotationId) {
    promoted = { liveVersion: live.version, skipped: true };
  } else {
    if (!input.pendingVersion) throw new RotationError({ code: 'nothing-to-promote', stage: 'promote', message: `rotation ${input.rotationId} has no pending version to promote` });
    const password = await s.vault.value('promote', s.pendingName, input.pendingVersion);
    const now = deps.now();
    const written = await s.vault.write('promote', s.credential.keyVault.secret, password, {
      tags: { [TAG.rotationId]: input.rotationId, [TAG.credential]: s.credential.id, [TAG.role]: s.role, [TAG.rotatedAt]: now.toISOString() },
      expiresOn: new Date(now.getTime() + s.credential.validityDays * 86_400_000),
    });
    promoted = { liveVersion: written.version, previousVersion: live?.version, skipped: false };
  }
  await writeDerived(deps, s, input.rotationId, promoted.liveVersion);
  await s.vault.remove('promote', s.pendingName);
  return promoted;
}

/** Derived secrets follow the live version; one already written by this rotation is left alone. */
async function writeDerived(deps: RotationDeps, s: Scope, rotationId: string, liveVersion: string): Promise<void> {
  if (s.credential.keyVault.derived.length === 0) return;
  const fields = await templateFields(deps, s.credential, liveVersion);
  for (const d of s.credential.keyVault.derived) {
    if (rotationIdOf(await s.vault.latest('promote', d.secret)) === rotationId) continue;
    await s.vault.write('promote', d.secret, renderTemplate(d.template, fields), { tags: { [TAG.rotationId]: rotationId, [TAG.credential]: s.credential.id, [TAG.role]: fields.user } });
  }
}

export interface LiveState {
  credentialId: string;
  rotationId: string;
  role: string;
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
  return {
    credentialId: s.credential.id,
    rotationId: rotationIdOf(current) ?? `propagate-${current.version}`,
    role: current.tags[TAG.role] ?? s.role,
    liveVersion: current.version,
    targets: consumerTargets(s.credential),
    graceMinutes: s.credential.graceMinutes,
    confirmTimeoutMinutes: s.credential.confirmTimeoutMinutes,
  };
}

export async function retire(deps: RotationDeps, input: RotationIds & { liveVersion: string }): Promise<{ disabledVersions: string[] }> {
  const s = scope(deps, input.credentialId, 'retire');
  return { disabledVersions: await s.vault.disableOtherVersions('retire', s.credential.keyVault.secret, input.liveVersion) };
}

export interface Compensation {
  restored: boolean;
  cleared: boolean;
  pendingRemoved: boolean;
}

/**
 * Undo before promote (single user): the database gets the live secret's password back,
 * and the pending secret goes. With no live secret to restore, the role is left without
 * a password rather than with one that exists only in the database.
 */
export async function compensate(deps: RotationDeps, input: RotationIds, log: Logger): Promise<Compensation> {
  const s = scope(deps, input.credentialId, 'compensate');
  const pending = await s.vault.latest('compensate', s.pendingName);
  const ours = pending && rotationIdOf(pending) === input.rotationId ? pending : undefined;
  const live = await s.vault.latest('compensate', s.credential.keyVault.secret);
  const result: Compensation = { restored: false, cleared: false, pendingRemoved: false };
  if (live) result.restored = await restoreLive(s, live);
  else if (ours) result.cleared = await clearIfApplied(s, ours);
  if (ours) result.pendingRemoved = await s.vault.remove('compensate', s.pendingName);
  log.info(`compensate: role ${s.role} restored=${result.restored} cleared=${result.cleared} pendingRemoved=${result.pendingRemoved}`);
  return result;
}

async function restoreLive(s: Scope, live: SecretVersionInfo): Promise<boolean> {
  const password = await s.vault.value('compensate', live.name, live.version);
  if (await s.postgres.canLogin('compensate', s.role, password)) return false;
  await s.postgres.setPasswordVerifier('compensate', s.role, await scramSha256Verifier(password));
  return true;
}

async function clearIfApplied(s: Scope, pending: SecretVersionInfo): Promise<boolean> {
  const password = await s.vault.value('compensate', pending.name, pending.version);
  if (!(await s.postgres.canLogin('compensate', s.role, password))) return false;
  await s.postgres.clearPassword('compensate', s.role);
  return true;
}

function pendingTags(s: Scope, rotationId: string, stage: PendingStage): Record<string, string> {
  return { [TAG.rotationId]: rotationId, [TAG.credential]: s.credential.id, [TAG.role]: s.role, [TAG.stage]: stage };
}
