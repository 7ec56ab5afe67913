import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Credential, RotationConfig } from '../config/schema';
import { RotationError } from '../errors';
import { templateFields } from '../rotation/consumers';
import type { RotationDeps } from '../rotation/deps';
import type { SecretVersionInfo } from '../targets/key-vault';
import { lastHealth } from '../rotation/drift-health';
import { runDriftCheck, type DriftOutcome } from '../rotation/drift-run';
import { checkDrift } from '../rotation/drift';
import { allPassed, preflight, type PreflightRow } from '../rotation/preflight';
import { isAbandonedPending, nextDue } from '../rotation/schedule';
import { pendingSecretName, TAG } from '../rotation/state';
import { renderConsumerValue } from '../rotation/templates';
import { openHost, startManual, type CliHost } from './rotations';
import { renderTable } from './table';

export type Out = (line: string) => void;

/** Exit codes, documented in the README and in `rotator --help`. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface CommandContext {
  config: RotationConfig;
  deps: RotationDeps;
  out: Out;
  json: boolean;
  /** `real` for operators; tests run the durable host on a virtual clock. */
  clock: 'real' | 'virtual';
}

export function selected(config: RotationConfig, id: string | undefined): Credential[] {
  if (id === undefined) return config.credentials;
  const found = config.credentials.find((c) => c.id === id);
  if (!found) throw new RotationError({ code: 'unknown-credential', stage: 'cli', message: `no credential with id "${id}" is configured (rotator validate lists them)` });
  return [found];
}

// ---- status ------------------------------------------------------------------------------

interface StatusRow {
  id: string;
  liveVersion: string | null;
  ageDays: number | null;
  expiresOn: string | null;
  nextDue: string | null;
  health: string | null;
  lastResult: string;
}

export async function status(ctx: CommandContext, id?: string): Promise<number> {
  const rows = await Promise.all(selected(ctx.config, id).map((c) => statusOf(ctx, c)));
  if (ctx.json) ctx.out(JSON.stringify({ credentials: rows }, null, 2));
  else renderTable(['credential', 'live', 'age', 'expires', 'next due', 'health', 'last result'], rows.map((r) => [r.id, r.liveVersion?.slice(0, 8) ?? '-', r.ageDays === null ? '-' : `${r.ageDays} d`, day(r.expiresOn), day(r.nextDue), r.health ?? 'not checked', r.lastResult])).forEach((l) => ctx.out(l));
  return EXIT.ok;
}

async function statusOf(ctx: CommandContext, c: Credential): Promise<StatusRow> {
  const vault = ctx.deps.vault(c.keyVault.url);
  const now = ctx.deps.now();
  const [live, pending, health] = await Promise.all([vault.latest('cli', c.keyVault.secret), vault.latest('cli', pendingSecretName(c)), lastHealth(ctx.deps, c)]);
  const rotatedAt = Date.parse(live?.tags[TAG.rotatedAt] ?? live?.createdOn ?? '');
  return {
    id: c.id,
    liveVersion: live?.version ?? null,
    ageDays: Number.isFinite(rotatedAt) ? Math.floor((now.getTime() - rotatedAt) / 86_400_000) : null,
    expiresOn: live?.expiresOn ?? null,
    nextDue: nextDue(c, live, now)?.toISOString() ?? null,
    health: health.state ?? null,
    lastResult: lastResult(ctx, live?.tags[TAG.stage], pending, now),
  };
}

/** What Key Vault's tags say of the last rotation (the CLI has no access to the service's task hub). */
function lastResult(ctx: CommandContext, stage: string | undefined, pending: SecretVersionInfo | undefined, now: Date): string {
  if (pending) return isAbandonedPending(pending, now, ctx.config.pendingMaxAgeHours) ? 'abandoned (pending secret left behind)' : 'in progress (pending secret)';
  if (stage === 'complete') return 'succeeded';
  if (stage === 'promoted') return 'unfinished: consumers not all confirmed';
  return 'never rotated by this service';
}

function day(iso: string | null): string {
  return iso ? iso.slice(0, 10) : '-';
}

// ---- rotate, propagate ---------------------------------------------------------------------

export async function rotate(ctx: CommandContext, id: string, mode: 'rotate' | 'propagate'): Promise<number> {
  selected(ctx.config, id);
  const cli = openHost(ctx.deps, ctx.clock);
  try {
    await startManual(cli, id, mode);
    const result = await cli.follow(id, ctx.out);
    ctx.out(`${mode === 'rotate' ? 'rotation' : 'propagation'} ${result.rotationId ?? id}: ${result.outcome}${result.error ? ` at ${result.error.stage}: ${result.error.message}` : ''}`);
    for (const t of result.targets ?? []) if (t.outcome === 'failed') ctx.out(`  ${t.target}: failed: ${t.message ?? t.errorCode}`);
    return result.outcome === 'succeeded' ? EXIT.ok : EXIT.failed;
  } finally {
    await cli.close();
  }
}

// ---- check ---------------------------------------------------------------------------------

/**
 * The drift check as the timer runs it (health recorded, events on a change, repair as each
 * credential allows), then: a repair started here is followed to its end and checked again.
 */
export async function check(ctx: CommandContext, id?: string): Promise<number> {
  const cli = openHost(ctx.deps, ctx.clock);
  try {
    const outcomes: DriftOutcome[] = [];
    for (const c of selected(ctx.config, id)) outcomes.push(await checkOne(ctx, cli, c));
    if (ctx.json) ctx.out(JSON.stringify({ credentials: outcomes }, null, 2));
    const drifted = outcomes.filter((o) => o.report?.health !== 'healthy').length;
    return drifted === 0 ? EXIT.ok : EXIT.failed;
  } finally {
    await cli.close();
  }
}

async function checkOne(ctx: CommandContext, cli: CliHost, c: Credential): Promise<DriftOutcome> {
  const outcome = await runDriftCheck(ctx.deps, c, cli.rotations);
  if (!ctx.json) printOutcome(ctx.out, outcome);
  if (!outcome.repaired?.some((r) => r.endsWith('started'))) return outcome;
  const result = await cli.follow(c.id, ctx.json ? () => undefined : ctx.out);
  const after = await checkDrift(ctx.deps, c);
  if (!ctx.json) ctx.out(`${c.id}: after the ${result.rotationId ?? 'repair'} (${result.outcome}): ${after.health}`);
  return { ...outcome, report: after };
}

function printOutcome(out: Out, o: DriftOutcome): void {
  if (!o.report) return out(`${o.credentialId}: skipped: ${o.skipped}`);
  out(`${o.credentialId}: ${o.report.health}${o.report.liveVersion ? ` (live version ${o.report.liveVersion.slice(0, 8)})` : ''}`);
  for (const f of o.report.findings) out(`  ${f.severity.padEnd(8)} ${f.code.padEnd(21)} ${f.message}`);
  for (const n of o.report.notes) out(`  note: ${n}`);
  if (o.recorded?.event) out(`  event: com.credentialrotator.credential.${o.recorded.event}`);
  if (o.repaired?.length) out(`  repair: ${o.repaired.join('; ')}`);
  else if (o.plan?.kind === 'none' && o.report.health === 'drifted') out(`  no repair: ${o.plan.reason}`);
}

// ---- preflight -----------------------------------------------------------------------------

export async function runPreflight(ctx: CommandContext, id?: string): Promise<number> {
  const rows = await preflight(ctx.deps, selected(ctx.config, id));
  if (ctx.json) ctx.out(JSON.stringify({ passed: allPassed(rows), checks: rows }, null, 2));
  else printPreflight(ctx.out, rows);
  return allPassed(rows) ? EXIT.ok : EXIT.failed;
}

function printPreflight(out: Out, rows: PreflightRow[]): void {
  renderTable(['', 'credential', 'area', 'check', 'detail'], rows.map((r) => [r.ok ? '✓' : '✗', r.credentialId ?? '-', r.area, r.check, r.ok ? r.detail : `${r.detail}\n${' '.repeat(4)}fix: ${r.fix}`]))
    .flatMap((l) => l.split('\n'))
    .forEach((l) => out(l));
  const failed = rows.filter((r) => !r.ok).length;
  out(failed === 0 ? `preflight: all ${rows.length} checks passed` : `preflight: ${failed} of ${rows.length} checks failed`);
}

// ---- env -----------------------------------------------------------------------------------

/**
 * Step 3 of the manual protocol this service replaces: the credential's current connection
 * string into a local .env, readable by its owner only. Other lines are kept; the variable
 * is replaced where it stands.
 */
export async function writeEnv(ctx: CommandContext, id: string, file: string, variable: string): Promise<number> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw new RotationError({ code: 'invalid-argument', stage: 'cli', message: `--name ${variable} is not an environment variable name` });
  const [c] = selected(ctx.config, id);
  const live = await ctx.deps.vault(c.keyVault.url).latest('cli', c.keyVault.secret);
  if (!live) throw new RotationError({ code: 'no-live-secret', stage: 'cli', message: `Key Vault has no secret ${c.keyVault.secret} for ${c.id}` });
  const url = renderConsumerValue('database-url', await templateFields(ctx.deps, c, live.version), []);
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l, i, all) => l !== '' || i < all.length - 1) : [];
  const at = lines.findIndex((l) => l.startsWith(`${variable}=`));
  if (at >= 0) lines[at] = `${variable}=${url}`;
  else lines.push(`${variable}=${url}`);
  // An existing file is narrowed before the secret is written into it; a new one is created 0600.
  if (existsSync(file)) chmodSync(file, 0o600);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  ctx.out(`${file}: ${variable} set to the connection string of ${c.id} (live version ${live.version.slice(0, 8)}, user ${live.tags[TAG.role] ?? c.postgres.role}), mode 0600`);
  return EXIT.ok;
}
