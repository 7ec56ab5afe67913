import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import type { SecretVersionInfo } from '../targets/key-vault';
import type { RoleFacts } from '../targets/postgres-inspect';
import { templateFields } from './consumers';
import { checkContainerApp } from './drift-container-apps';
import type { RotationDeps } from './deps';
import { isAbandonedPending } from './schedule';
import { isPromotedButUnfinished, pendingSecretName, rotationIdOf, TAG } from './state';
import { liveRoleOf, loginRoles } from './strategy';
import { renderTemplate } from './templates';

/**
 * The drift check: does everything still agree with Key Vault, the authority? Read-only.
 * Each finding has a stable code, a severity and a message that says what to do; the
 * repair it allows (if the credential's `repair` setting permits) is decided in
 * drift-repair.ts, never here.
 */

export type Severity = 'critical' | 'error' | 'warning';

export const FINDINGS = {
  'no-live-secret': { severity: 'critical', repair: 'none' },
  'live-login-refused': { severity: 'critical', repair: 'rotate' },
  'probe-failed': { severity: 'error', repair: 'none' },
  'role-missing': { severity: 'critical', repair: 'none' },
  'role-nologin': { severity: 'critical', repair: 'none' },
  'role-expired': { severity: 'critical', repair: 'none' },
  'role-connection-limit': { severity: 'error', repair: 'none' },
  'idle-login-active': { severity: 'warning', repair: 'none' },
  'derived-stale': { severity: 'error', repair: 'propagate' },
  'github-stale': { severity: 'error', repair: 'propagate' },
  'github-missing': { severity: 'error', repair: 'propagate' },
  'container-app-reference-stale': { severity: 'error', repair: 'propagate' },
  'container-app-not-reference': { severity: 'error', repair: 'none' },
  'container-app-replicas-stale': { severity: 'error', repair: 'propagate' },
  'expired': { severity: 'critical', repair: 'none' },
  'expiry-near': { severity: 'warning', repair: 'none' },
  'no-expiry': { severity: 'warning', repair: 'none' },
  'pending-abandoned': { severity: 'warning', repair: 'none' },
  'check-failed': { severity: 'error', repair: 'none' },
} as const satisfies Record<string, { severity: Severity; repair: 'none' | 'propagate' | 'rotate' }>;

export type FindingCode = keyof typeof FINDINGS;

export interface Finding {
  code: FindingCode;
  severity: Severity;
  /** What it concerns: a role, a secret, a consumer target. */
  subject: string;
  message: string;
  /** A consumer's configuration key (`github:0`, `container-app:1`) or a derived secret's name, for the repair. */
  target?: string;
}

export type Health = 'healthy' | 'drifted';

export interface HealthReport {
  credentialId: string;
  checkedAt: string;
  health: Health;
  liveVersion?: string;
  findings: Finding[];
  /** What the check could not establish, said plainly (e.g. GitHub secret values cannot be read). */
  notes: string[];
}

const DAY_MS = 86_400_000;

interface Context {
  deps: RotationDeps;
  credential: Credential;
  live: SecretVersionInfo;
  liveRole: string;
  now: Date;
  findings: Finding[];
  notes: string[];
}

export async function checkDrift(deps: RotationDeps, credential: Credential): Promise<HealthReport> {
  const now = deps.now();
  const vault = deps.vault(credential.keyVault.url);
  const findings: Finding[] = [];
  const notes: string[] = [];
  const report = (liveVersion?: string): HealthReport => ({ credentialId: credential.id, checkedAt: now.toISOString(), health: healthOf(findings), liveVersion, findings, notes });
  const [live, pending] = await Promise.all([vault.latest('drift', credential.keyVault.secret), vault.latest('drift', pendingSecretName(credential))]);
  if (pending && isAbandonedPending(pending, now, deps.config.pendingMaxAgeHours)) {
    add(findings, 'pending-abandoned', pending.name, `pending secret ${pending.name} (rotation ${rotationIdOf(pending) ?? 'untagged'}) is older than ${deps.config.pendingMaxAgeHours} h; the janitor (scheduledRotation) resumes or aborts it, or run: rotator rotate ${credential.id}`);
  }
  if (!live) {
    add(findings, 'no-live-secret', credential.keyVault.secret, `Key Vault has no secret ${credential.keyVault.secret}: put the role's current password there (with an expiry) before anything else`);
    return report();
  }
  const ctx: Context = { deps, credential, live, liveRole: liveRoleOf(credential, live), now, findings, notes };
  checkExpiry(ctx);
  await guarded(ctx, 'PostgreSQL', () => checkLogin(ctx));
  await guarded(ctx, 'PostgreSQL roles', () => checkRoles(ctx));
  await guarded(ctx, 'derived secrets', () => checkDerived(ctx));
  await checkGitHub(ctx);
  await checkContainerApps(ctx);
  return report(live.version);
}

/** Drifted when anything worse than a warning stands. */
export function healthOf(findings: readonly Finding[]): Health {
  return findings.some((f) => f.severity !== 'warning') ? 'drifted' : 'healthy';
}

function add(findings: Finding[], code: FindingCode, subject: string, message: string, target?: string): void {
  findings.push({ code, severity: FINDINGS[code].severity, subject, message, ...(target ? { target } : {}) });
}

/** A check that cannot run is itself a finding, naming what failed; the others still run. */
async function guarded(ctx: Context, what: string, check: () => Promise<void>, target?: string): Promise<void> {
  try {
    await check();
  } catch (error) {
    if (!(error instanceof RotationError)) throw error;
    add(ctx.findings, 'check-failed', what, `could not check ${what}: ${error.message}; fix access (rotator preflight ${ctx.credential.id} says which) and check again`, target);
  }
}

function checkExpiry(ctx: Context): void {
  const { live, credential, now } = ctx;
  const expires = live.expiresOn ? Date.parse(live.expiresOn) : undefined;
  if (expires === undefined) {
    add(ctx.findings, 'no-expiry', live.name, `live version ${live.version} has no expiry, so Key Vault never warns; the next rotation sets one (rotator rotate ${credential.id})`);
  } else if (expires <= now.getTime()) {
    add(ctx.findings, 'expired', live.name, `live version ${live.version} expired on ${live.expiresOn}; rotate now: rotator rotate ${credential.id}`);
  } else if (expires - now.getTime() <= credential.expiryMarginDays * DAY_MS) {
    add(ctx.findings, 'expiry-near', live.name, `live version ${live.version} expires on ${live.expiresOn}, within the ${credential.expiryMarginDays}-day margin; the scheduled rotation will take it, or run rotator rotate ${credential.id}`);
  }
}

async function checkLogin(ctx: Context): Promise<void> {
  const { deps, credential, live, liveRole } = ctx;
  const password = await deps.vault(credential.keyVault.url).value('drift', live.name, live.version);
  try {
    await deps.postgres(credential).probe('drift', liveRole, password, credential.postgres.probeQuery);
  } catch (error) {
    if (!(error instanceof RotationError)) throw error;
    // 28000: the role may not log in at all (NOLOGIN); the role-state check names that cause, and a rotation would not mend it.
    if (error.code === 'login-not-permitted') return;
    if (error.code === 'login-refused') {
      add(ctx.findings, 'live-login-refused', liveRole, `the live secret ${live.name} (version ${live.version}) does not log in as ${liveRole}: the role's password was changed outside Key Vault. Rotate (rotator rotate ${credential.id}, or repair: rotate) so the database gets a password Key Vault holds`);
    } else if (error.retryable) {
      throw error;
    } else {
      add(ctx.findings, 'probe-failed', liveRole, `the live secret logs in as ${liveRole} but the check failed: ${error.message}; fix the role's grants or the probe query`);
    }
  }
}

async function checkRoles(ctx: Context): Promise<void> {
  const { deps, credential, liveRole } = ctx;
  const facts = await deps.inspectPostgres(credential).roles('drift', loginRoles(credential));
  for (const f of facts) {
    if (f.role === liveRole) checkLiveRole(ctx, f);
    else checkIdleRole(ctx, f);
  }
}

function checkLiveRole(ctx: Context, f: RoleFacts): void {
  const host = ctx.credential.postgres.host;
  if (!f.exists) return add(ctx.findings, 'role-missing', f.role, `role ${f.role} does not exist on ${host}: run the bootstrap script (infra/postgres) for it`);
  if (!f.canLogin) add(ctx.findings, 'role-nologin', f.role, `role ${f.role} is NOLOGIN: an administrator must run ALTER ROLE ${f.role} LOGIN`);
  if (f.validUntil && Date.parse(f.validUntil) <= ctx.now.getTime()) {
    add(ctx.findings, 'role-expired', f.role, `role ${f.role} has VALID UNTIL ${f.validUntil}, in the past: an administrator must run ALTER ROLE ${f.role} VALID UNTIL 'infinity' (Key Vault's expiry is the one that counts)`);
  }
  if (f.connectionLimit === 0 || (f.connectionLimit > 0 && f.sessions >= f.connectionLimit)) {
    add(ctx.findings, 'role-connection-limit', f.role, `role ${f.role} has CONNECTION LIMIT ${f.connectionLimit} with ${f.sessions} session(s): new logins are refused; raise it with ALTER ROLE ${f.role} CONNECTION LIMIT`);
  }
}

/** Alternating users: the other login is retired (NOLOGIN) once a rotation completes. */
function checkIdleRole(ctx: Context, f: RoleFacts): void {
  if (!f.exists) return add(ctx.findings, 'role-missing', f.role, `login ${f.role} does not exist on ${ctx.credential.postgres.host}: run 21-alternating-users.sql (or rotator adopt) for it`);
  // Until retire, the previous login keeps working by design.
  if (f.canLogin && !isPromotedButUnfinished(ctx.live)) {
    add(ctx.findings, 'idle-login-active', f.role, `idle login ${f.role} still has LOGIN although the last rotation completed; the next rotation retires it, or run ALTER ROLE ${f.role} NOLOGIN PASSWORD NULL`);
  }
}

/** A derived secret must hold the rendering of the live value and carry the live rotation id. */
async function checkDerived(ctx: Context): Promise<void> {
  const { deps, credential, live } = ctx;
  if (credential.keyVault.derived.length === 0) return;
  const vault = deps.vault(credential.keyVault.url);
  const fields = await templateFields(deps, credential, live.version);
  for (const d of credential.keyVault.derived) {
    const current = await vault.latest('drift', d.secret);
    const fix = `rewrite it from the live version (repair: propagate, or rotator propagate ${credential.id})`;
    if (!current) {
      add(ctx.findings, 'derived-stale', d.secret, `derived secret ${d.secret} does not exist; ${fix}`, d.secret);
      continue;
    }
    const liveRotation = rotationIdOf(live);
    const tagDiffers = liveRotation !== undefined && rotationIdOf(current) !== liveRotation;
    const valueDiffers = (await vault.value('drift', d.secret, current.version)) !== renderTemplate(d.template, fields);
    if (tagDiffers || valueDiffers) {
      const why = [valueDiffers ? 'its value is not the rendering of the live value' : '', tagDiffers ? `its rotation-id tag is ${rotationIdOf(current) ?? 'missing'}, the live version's is ${liveRotation}` : ''].filter(Boolean).join(', and ');
      add(ctx.findings, 'derived-stale', d.secret, `derived secret ${d.secret}: ${why}; ${fix}`, d.secret);
    }
  }
}

/**
 * GitHub never returns a secret's value, so the check compares `updated_at` with the live
 * version's rotated-at, at GitHub's one-second precision.
 */
async function checkGitHub(ctx: Context): Promise<void> {
  const targets = ctx.credential.consumers.github;
  if (targets.length === 0) return;
  const rotatedAt = rotatedAtOf(ctx.live);
  ctx.notes.push('GitHub secret values cannot be read back; each was compared by updated_at with the live version\'s rotated-at');
  for (const [i, t] of targets.entries()) {
    const key = `github:${i}`;
    const where = `${t.org ? `org:${t.org}` : t.repo}${t.environment ? `@${t.environment}` : ''}:${t.secret}`;
    await guarded(ctx, `GitHub secret ${where}`, async () => {
      const updatedAt = await ctx.deps.github().secretUpdatedAt('drift', t.org ? { org: t.org, name: t.secret } : { repo: t.repo!, environment: t.environment, name: t.secret });
      if (!updatedAt) return add(ctx.findings, 'github-missing', where, `GitHub secret ${where} does not exist; push the live version (repair: propagate, or rotator propagate ${ctx.credential.id})`, key);
      if (Number.isFinite(rotatedAt) && updatedAt.getTime() < Math.floor(rotatedAt / 1000) * 1000) {
        add(ctx.findings, 'github-stale', where, `GitHub secret ${where} was last written ${updatedAt.toISOString()}, before the live version was rotated (${new Date(rotatedAt).toISOString()}); push the live version (repair: propagate, or rotator propagate ${ctx.credential.id})`, key);
      }
    }, key);
  }
}

/** Each app: its secrets reference the live version, and its active revisions' replicas started after it was rotated. */
async function checkContainerApps(ctx: Context): Promise<void> {
  const apps = ctx.credential.consumers.containerApps;
  const rotatedAt = rotatedAtOf(ctx.live);
  const since = Number.isFinite(rotatedAt) ? new Date(rotatedAt) : undefined;
  if (apps.length > 0 && !since) ctx.notes.push('the live version carries neither a rotated-at tag nor a creation time, so no replica was compared with it');
  for (const [i, a] of apps.entries()) {
    const key = `container-app:${i}`;
    await guarded(ctx, `container app ${a.app}`, async () => {
      for (const f of await checkContainerApp(ctx.deps, ctx.credential, i, ctx.live, since)) add(ctx.findings, f.code, f.subject, f.message, key);
    }, key);
  }
}

/** When the live version became live: its rotated-at tag, else (never rotated here) its creation. */
function rotatedAtOf(live: SecretVersionInfo): number {
  return Date.parse(live.tags[TAG.rotatedAt] ?? live.createdOn ?? '');
}
