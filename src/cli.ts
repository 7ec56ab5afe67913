#!/usr/bin/env node
import { readSetting } from './config/app-settings';
import { findCredential, loadConfig } from './config/load';
import type { RotationConfig } from './config/schema';
import { RotationError } from './errors';
import { check, EXIT, rotate, runPreflight, status, writeEnv, type CommandContext, type Out } from './cli/commands';
import { composeDeps } from './composition';
import { adoptionRolesOf, isEmptyPlan, planAdoption, renderPlan, type AdoptionPhase } from './rotation/adoption';
import type { RotationDeps } from './rotation/deps';
import { operatorIdentity } from './targets/identity';
import { PostgresAdministrator, sqlQuoting } from './targets/postgres-admin';

const HELP: Record<string, string> = {
  validate: `rotator validate [--config <file|json>]
  Check the configuration and list the credentials.`,
  status: `rotator status [<credential>] [--output table|json]
  Every credential (or one): live version, age, expiry, next due date, health as the last
  drift check recorded it, and the last result as Key Vault's tags record it.`,
  rotate: `rotator rotate <credential>
  Rotate now, against the real services, with the operator's Azure identity (az login,
  workload identity or environment). Prints a line per stage with its duration as it ends.`,
  propagate: `rotator propagate <credential>
  Push the live version again to every consumer (GitHub secrets, Container Apps), without a
  new password; then confirm, wait the grace period and retire, as a rotation does.`,
  check: `rotator check [<credential>] [--output table|json]
  The drift check: does every system still agree with Key Vault? Each finding with its code,
  severity and what to do. Records the health on the live secret (events on a change) and
  repairs as each credential's repair setting allows, then checks again.`,
  preflight: `rotator preflight [<credential>] [--output table|json]
  Check every permission and precondition a rotation needs, changing nothing: Key Vault
  permissions (ARM Microsoft.Authorization/permissions), the PostgreSQL admin login and its
  rights, role state, SCRAM, server version, each GitHub public key, each Container App and
  its granted actions, the events topic. ✓/✗ with the fix for each ✗.`,
  env: `rotator env <credential> --write <file> [--name DATABASE_URL]
  Write the credential's current connection string (from the live Key Vault version) into a
  local .env file, mode 0600; other lines of the file are kept.`,
  adopt: `rotator adopt <credential> [--finish] [--dry-run]
  Turn the login role an application uses today (postgres.roles[0]) into the
  alternating-users shape: the group (postgres.group) takes over its objects and grants, the
  second login is created. Restart the applications, then run it again with --finish.
  --dry-run prints the SQL and changes nothing. Runs as an administrator: PGUSER and
  PGPASSWORD (on Azure, an Entra administrator and an oss-rdbms access token).`,
};

const USAGE = `usage: rotator <command> [arguments] [--config <file or inline JSON>]

commands:
${Object.values(HELP).map((h) => `  ${h.split('\n')[0]}`).join('\n')}

rotator <command> --help describes one command. The configuration defaults to the
ROTATOR_CONFIG setting; events go to ROTATOR_EVENTS_ENDPOINT when it is set.

exit codes: 0 success (healthy, every check passed); 1 the command ran and found or met a
failure (a drifted credential, a failed preflight check, a failed rotation, an unreachable
service); 2 usage or configuration error.`;

const FLAGS = ['--dry-run', '--finish', '--help'] as const;
const OPTIONS = ['--config', '--output', '--write', '--name'] as const;
type Flag = (typeof FLAGS)[number];
type Option = (typeof OPTIONS)[number];

export interface CliOptions {
  /** The adapters for a configuration; default: the operator's Azure identity against the real services. */
  compose?: (config: RotationConfig, env: NodeJS.ProcessEnv) => RotationDeps;
  /** The durable host's clock for rotate, propagate and check repairs; default real time. */
  clock?: 'real' | 'virtual';
  /** An already loaded configuration instead of --config (tests). */
  config?: RotationConfig;
}

export async function main(argv: string[], out: Out = console.log, err: Out = console.error, env: NodeJS.ProcessEnv = process.env, options: CliOptions = {}): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv);
  } catch (error) {
    err(`rotator: ${(error as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  const { command, positional, flags, values } = parsed;
  if (command === undefined || command === 'help') {
    const asked = command === 'help' || flags.has('--help');
    const topic = command === 'help' ? positional[0] : undefined;
    (asked ? out : err)(topic && topic in HELP ? HELP[topic] : USAGE);
    return asked ? EXIT.ok : EXIT.usage;
  }
  if (flags.has('--help')) {
    out(HELP[command]);
    return EXIT.ok;
  }
  const usageError = checkUsage(command, positional, flags, values);
  if (usageError) {
    err(`rotator ${command}: ${usageError}\nusage: ${HELP[command] ?? USAGE}`);
    return EXIT.usage;
  }
  try {
    const config = options.config ?? loadConfig(values.get('--config') ?? readSetting('ROTATOR_CONFIG', env));
    if (command === 'validate') return validate(config, out);
    if (command === 'adopt') return await adopt(config, positional[0], flags, env, out);
    const deps = (options.compose ?? operatorDeps)(config, env);
    const ctx: CommandContext = { config, deps, out, json: values.get('--output') === 'json', clock: options.clock ?? 'real' };
    switch (command) {
      case 'status':
        return await status(ctx, positional[0]);
      case 'rotate':
        return await rotate(ctx, positional[0], 'rotate');
      case 'propagate':
        return await rotate(ctx, positional[0], 'propagate');
      case 'check':
        return await check(ctx, positional[0]);
      case 'preflight':
        return await runPreflight(ctx, positional[0]);
      default:
        return await writeEnv(ctx, positional[0], values.get('--write')!, values.get('--name') ?? 'DATABASE_URL');
    }
  } catch (error) {
    err(`rotator: ${error instanceof Error ? error.message : String(error)}`);
    return error instanceof RotationError && ['invalid-config', 'unknown-credential', 'invalid-argument'].includes(error.code) ? EXIT.usage : EXIT.failed;
  }
}

/** Positional arguments each command takes, and the options it accepts; anything else is named and refused. */
const SHAPES: Record<string, { args: [number, number]; flags?: Flag[]; options?: Option[]; required?: Option[] }> = {
  validate: { args: [0, 0] },
  status: { args: [0, 1], options: ['--output'] },
  rotate: { args: [1, 1] },
  propagate: { args: [1, 1] },
  check: { args: [0, 1], options: ['--output'] },
  preflight: { args: [0, 1], options: ['--output'] },
  env: { args: [1, 1], options: ['--write', '--name'], required: ['--write'] },
  adopt: { args: [1, 1], flags: ['--dry-run', '--finish'] },
};

function checkUsage(command: string, positional: string[], flags: Set<Flag>, values: Map<Option, string>): string | undefined {
  const shape = SHAPES[command];
  if (!shape) return `unknown command "${command}"`;
  const [min, max] = shape.args;
  if (positional.length < min) return 'a credential id is required';
  if (positional.length > max) return `unexpected argument "${positional[max]}"`;
  const badFlag = [...flags].find((f) => !(shape.flags ?? []).includes(f));
  if (badFlag) return `${badFlag} does not apply to ${command}`;
  const badOption = [...values.keys()].find((o) => o !== '--config' && !(shape.options ?? []).includes(o));
  if (badOption) return `${badOption} does not apply to ${command}`;
  const missing = (shape.required ?? []).find((o) => !values.has(o));
  if (missing) return `${missing} is required`;
  const output = values.get('--output');
  if (output !== undefined && output !== 'json' && output !== 'table') return `--output must be table or json, not "${output}"`;
  return undefined;
}

function parseArgs(argv: string[]): { command?: string; positional: string[]; flags: Set<Flag>; values: Map<Option, string> } {
  const positional: string[] = [];
  const flags = new Set<Flag>();
  const values = new Map<Option, string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if ((OPTIONS as readonly string[]).includes(arg)) {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      values.set(arg as Option, argv[++i]);
    } else if (arg === '-h') flags.add('--help');
    else if ((FLAGS as readonly string[]).includes(arg)) flags.add(arg as Flag);
    else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
    else positional.push(arg);
  }
  return { command: positional.shift(), positional, flags, values };
}

/** The operator's identity against the real services; events go out when the topic is configured. */
function operatorDeps(config: RotationConfig, env: NodeJS.ProcessEnv): RotationDeps {
  const endpoint = readSetting('ROTATOR_EVENTS_ENDPOINT', env);
  return composeDeps({ config, credential: operatorIdentity(), events: endpoint ? { endpoint, key: readSetting('ROTATOR_EVENTS_KEY', env) } : undefined });
}

function validate(config: RotationConfig, out: Out): number {
  for (const c of config.credentials) {
    const roles = c.postgres.role ?? c.postgres.roles?.join('/');
    out(`${c.id}: ${c.strategy}, role ${roles} on ${c.postgres.host}/${c.postgres.database}, secret ${c.keyVault.secret} in ${c.keyVault.url}, every ${c.rotationDays} days`);
  }
  out(`configuration valid: ${config.credentials.length} credential(s)`);
  return 0;
}

async function adopt(config: RotationConfig, credentialId: string, flags: Set<Flag>, env: NodeJS.ProcessEnv, out: Out): Promise<number> {
  const credential = findCredential(config, credentialId, 'cli');
  const roles = adoptionRolesOf(credential);
  const phase: AdoptionPhase = flags.has('--finish') ? 'finish' : 'adopt';
  const { host, port, database, ssl, connectTimeoutSeconds } = credential.postgres;
  const admin = new PostgresAdministrator({ host, port, database, ssl, connectTimeoutSeconds }, administratorFrom(env));
  const plan = planAdoption(roles, await admin.readAdoptionFacts(roles), phase, sqlQuoting);
  if (flags.has('--dry-run')) {
    out(`-- rotator adopt ${credentialId}${phase === 'finish' ? ' --finish' : ''}: ${isEmptyPlan(plan) ? 'nothing to do' : `${plan.transactions.length} transaction(s), not executed`}`);
    renderPlan(plan, sqlQuoting).forEach((line) => out(line));
    return 0;
  }
  plan.notes.forEach((note) => out(`note: ${note}`));
  if (isEmptyPlan(plan)) {
    out(`${credentialId}: nothing to do, ${roles.existing} is already ${phase === 'finish' ? 'fully adopted' : `adopted into ${roles.group}`}`);
    return 0;
  }
  await admin.execute(plan.transactions, (t) => out(`  ${t.database}: ${t.statements.length} statement(s) committed`));
  out(phase === 'adopt' ? adoptedMessage(credentialId, roles.existing, roles.group) : `${credentialId}: adoption finished; ${roles.existing} owns and holds nothing itself, both logins are on the rotator's allow-list`);
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
