#!/usr/bin/env node
import { readSetting } from './config/app-settings';
import { findCredential, loadConfig } from './config/load';
import type { RotationConfig } from './config/schema';
import { RotationError } from './errors';
import { registerApp } from './app';
import { composeDeps } from './composition';
import { DurableHost, installFunctionsCore } from './local/durable-host';
import { instanceIdFor, ORCHESTRATOR } from './orchestrations/contract';
import { adoptionRolesOf, isEmptyPlan, planAdoption, renderPlan, type AdoptionPhase } from './rotation/adoption';
import { type RotationStatus } from './rotation/status';
import { operatorIdentity } from './targets/identity';
import { PostgresAdministrator, quoteIdentifier } from './targets/postgres-admin';

const USAGE = `usage: rotator <command> [--config <file or inline JSON>]
  validate            check the configuration and list the credentials
  rotate <credential> rotate one credential now, against the real services, with the
                      operator's Azure identity (az login, workload identity or environment)
  adopt <credential> [--finish] [--dry-run]
                      turn the login role an application uses today (postgres.roles[0]) into
                      the alternating-users shape: the group (postgres.group) takes over its
                      objects and grants, the second login is created. Restart the applications,
                      then run it again with --finish. --dry-run prints the SQL and changes
                      nothing. Runs as an administrator: PGUSER and PGPASSWORD (on Azure, an
                      Entra administrator and an oss-rdbms access token)
The configuration defaults to the ROTATOR_CONFIG setting.`;

const FLAGS = ['--dry-run', '--finish'] as const;
type Flag = (typeof FLAGS)[number];

export async function main(argv: string[], out = console.log, err = console.error, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { command, positional, flags, config: configSource } = parseArgs(argv);
  const config = () => loadConfig(configSource ?? readSetting('ROTATOR_CONFIG', env));
  try {
    if (command === 'validate' && flags.size === 0) return validate(config(), out);
    if (command === 'rotate' && positional.length === 1 && flags.size === 0) return await rotate(config(), positional[0], out);
    if (command === 'adopt' && positional.length === 1) return await adopt(config(), positional[0], flags, env, out);
    err(USAGE);
    return 2;
  } catch (error) {
    err(`rotator: ${error instanceof RotationError ? error.message : error instanceof Error ? error.message : String(error)}`);
    return error instanceof RotationError && error.code === 'invalid-config' ? 2 : 1;
  }
}

function parseArgs(argv: string[]): { command?: string; positional: string[]; flags: Set<Flag>; config?: string } {
  const positional: string[] = [];
  const flags = new Set<Flag>();
  let config: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--config') config = argv[++i];
    else if ((FLAGS as readonly string[]).includes(argv[i])) flags.add(argv[i] as Flag);
    else positional.push(argv[i]);
  }
  return { command: positional.shift(), positional, flags, config };
}

function validate(config: RotationConfig, out: (line: string) => void): number {
  for (const c of config.credentials) {
    const roles = c.postgres.role ?? c.postgres.roles?.join('/');
    out(`${c.id}: ${c.strategy}, role ${roles} on ${c.postgres.host}/${c.postgres.database}, secret ${c.keyVault.secret} in ${c.keyVault.url}, every ${c.rotationDays} days`);
  }
  out(`configuration valid: ${config.credentials.length} credential(s)`);
  return 0;
}

async function rotate(config: RotationConfig, credentialId: string, out: (line: string) => void): Promise<number> {
  if (!config.credentials.some((c) => c.id === credentialId)) throw new RotationError({ code: 'unknown-credential', stage: 'cli', message: `no credential with id "${credentialId}" is configured` });
  const registry = installFunctionsCore();
  const deps = composeDeps({ config, credential: operatorIdentity() });
  registerApp(() => deps);
  // Real time: the grace period is waited out before older versions are disabled.
  const host = new DurableHost({ clock: 'real', registry });
  try {
    const instanceId = instanceIdFor(credentialId);
    await host.startNew(ORCHESTRATOR, { instanceId, input: { credentialId, reason: 'manual' } });
    const result = await host.waitForCompletion(instanceId, { timeoutMs: 24 * 3600_000 });
    const status = result.customStatus as RotationStatus;
    for (const s of status.stages) out(`  ${s.stage.padEnd(10)} ${s.outcome.padEnd(9)} ${s.durationMs} ms`);
    out(`rotation ${status.rotationId ?? instanceId}: ${status.outcome}${status.error ? ` at ${status.error.stage}: ${status.error.message}` : ''}`);
    return status.outcome === 'succeeded' ? 0 : 1;
  } finally {
    await host.close();
  }
}

async function adopt(config: RotationConfig, credentialId: string, flags: Set<Flag>, env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<number> {
  const credential = findCredential(config, credentialId, 'cli');
  const roles = adoptionRolesOf(credential);
  const phase: AdoptionPhase = flags.has('--finish') ? 'finish' : 'adopt';
  const { host, port, database, ssl, connectTimeoutSeconds } = credential.postgres;
  const admin = new PostgresAdministrator({ host, port, database, ssl, connectTimeoutSeconds }, administratorFrom(env));
  const plan = planAdoption(roles, await admin.readAdoptionFacts(roles), phase, quoteIdentifier);
  if (flags.has('--dry-run')) {
    out(`-- rotator adopt ${credentialId}${phase === 'finish' ? ' --finish' : ''}: ${isEmptyPlan(plan) ? 'nothing to do' : `${plan.transactions.length} transaction(s), not executed`}`);
    renderPlan(plan, quoteIdentifier).forEach((line) => out(line));
    return 0;
  }
  plan.notes.forEach((note) => out(`note: ${note}`));
  if (isEmptyPlan(plan)) {
    out(`${credentialId}: nothing to do, ${roles.existing} is already ${phase === 'finish' ? 'fully adopted' : `adopted into ${roles.group}`}`);
    return 0;
  }
  await admin.execute(plan.transactions, (t) => out(`  ${t.database}: ${t.statements.length} statement(s) committed`));
  out(phase === 'adopt' ? adoptedMessage(credentialId, roles.existing, roles.group) : `${credentialId}: adoption finished; ${roles.existing} owns and holds nothing itself, the rotator manages both logins`);
  return 0;
}

function adoptedMessage(credentialId: string, existing: string, group: string): string {
  return `${credentialId}: ${group} owns and holds what ${existing} did; new sessions of ${existing} act as ${group}. Restart every application that logs in as ${existing}, then run: rotator adopt ${credentialId} --finish`;
}

/** Adoption is an administrator's one-off act, so it takes libpq's variables, never the rotator's login. */
function administratorFrom(env: NodeJS.ProcessEnv): { user: string; password: () => Promise<string> } {
  const user = env.PGUSER;
  const password = env.PGPASSWORD;
  if (!user || !password) throw new RotationError({ code: 'invalid-config', stage: 'cli', message: 'adopt runs as an administrator: set PGUSER and PGPASSWORD (on Azure: an Entra administrator, and az account get-access-token --resource-type oss-rdbms)' });
  return { user, password: async () => password };
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
