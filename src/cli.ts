#!/usr/bin/env node
import { readSetting } from './config/app-settings';
import { loadConfig } from './config/load';
import type { RotationConfig } from './config/schema';
import { RotationError } from './errors';
import { registerApp } from './app';
import { composeDeps } from './composition';
import { DurableHost, installFunctionsCore } from './local/durable-host';
import { instanceIdFor, ORCHESTRATOR } from './orchestrations/contract';
import { type RotationStatus } from './rotation/status';
import { operatorIdentity } from './targets/identity';

const USAGE = `usage: rotator <command> [--config <file or inline JSON>]
  validate            check the configuration and list the credentials
  rotate <credential> rotate one credential now, against the real services, with the
                      operator's Azure identity (az login, workload identity or environment)
The configuration defaults to the ROTATOR_CONFIG setting.`;

export async function main(argv: string[], out = console.log, err = console.error): Promise<number> {
  const { command, positional, config: configSource } = parseArgs(argv);
  try {
    if (command === 'validate') return validate(loadConfig(configSource ?? readSetting('ROTATOR_CONFIG')), out);
    if (command === 'rotate' && positional.length === 1) return await rotate(loadConfig(configSource ?? readSetting('ROTATOR_CONFIG')), positional[0], out);
    err(USAGE);
    return 2;
  } catch (error) {
    err(`rotator: ${error instanceof RotationError ? error.message : error instanceof Error ? error.message : String(error)}`);
    return error instanceof RotationError && error.code === 'invalid-config' ? 2 : 1;
  }
}

function parseArgs(argv: string[]): { command?: string; positional: string[]; config?: string } {
  const positional: string[] = [];
  let config: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--config') config = argv[++i];
    else positional.push(argv[i]);
  }
  return { command: positional.shift(), positional, config };
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

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
