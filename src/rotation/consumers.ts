import { findCredential } from '../config/load';
import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import { describeApp } from '../targets/container-apps';
import { appRef, confirmContainerApp, pushToContainerApp, type AppConfirmation, type AppTicket } from './container-app-consumer';
import type { RotationDeps } from './deps';
import { TAG } from './state';
import type { TargetResult } from './status';
import { renderConsumerValue, type TemplateFields } from './templates';

/**
 * Propagate and confirm: every consumer gets the live version, and Container Apps are
 * watched until every active revision runs it healthy. Inputs name targets by key
 * (`github:0`, `container-app:1`) and the live version; values are read from Key Vault
 * inside the activity.
 */

export type TargetKey = string;

export function consumerTargets(credential: Credential): TargetKey[] {
  return [...credential.consumers.github.map((_, i) => `github:${i}`), ...credential.consumers.containerApps.map((_, i) => `container-app:${i}`)];
}

export interface PropagateInput {
  credentialId: string;
  liveVersion: string;
  target: TargetKey;
}

export interface Propagated {
  result: TargetResult;
  /** Container apps: what confirm checks the app against. */
  confirm?: AppTicket;
  /** A failure worth another round (throttling, 5xx, resets). */
  retryable?: boolean;
}

/** One consumer; its failure is a result (naming the target), so the others go on. */
export async function propagateTarget(deps: RotationDeps, input: PropagateInput): Promise<Propagated> {
  const credential = findCredential(deps.config, input.credentialId, 'propagate');
  try {
    return await pushTo(deps, credential, input);
  } catch (error) {
    if (!(error instanceof RotationError)) throw error;
    const result: TargetResult = { kind: parseKey(input.target)[0], key: input.target, target: describeTarget(credential, input.target), outcome: 'failed', errorCode: error.code, message: error.message };
    return { result, retryable: error.retryable };
  }
}

async function pushTo(deps: RotationDeps, credential: Credential, input: PropagateInput): Promise<Propagated> {
  const [kind, index] = parseKey(input.target);
  if (kind === 'github') {
    const t = credential.consumers.github[index];
    const value = renderConsumerValue(t.format, await templateFields(deps, credential, input.liveVersion), credential.keyVault.derived);
    const where = t.org ? { org: t.org, visibility: t.visibility } : { repo: t.repo!, environment: t.environment };
    await deps.github().putSecret('propagate', { ...where, name: t.secret }, value);
    return { result: { kind: 'github', key: input.target, target: describeTarget(credential, input.target), outcome: 'succeeded' } };
  }
  const ticket = await pushToContainerApp(deps, credential, index, input.liveVersion);
  return { result: { kind: 'container-app', key: input.target, target: describeApp(appRef(credential.consumers.containerApps[index])), outcome: 'succeeded' }, confirm: ticket };
}

export function describeTarget(credential: Credential, key: TargetKey): string {
  const [kind, index] = parseKey(key);
  if (kind === 'container-app') return describeApp(appRef(credential.consumers.containerApps[index]));
  const t = credential.consumers.github[index];
  return `${t.org ? `org:${t.org}` : t.repo}${t.environment ? `@${t.environment}` : ''}:${t.secret}`;
}

export interface ConfirmInput {
  credentialId: string;
  target: TargetKey;
  ticket: AppTicket;
}

export type Confirmation = AppConfirmation;

/** Reads the app once; the orchestrator decides whether to wait on a durable timer. */
export async function confirmRevisions(deps: RotationDeps, input: ConfirmInput): Promise<Confirmation> {
  const credential = findCredential(deps.config, input.credentialId, 'confirm');
  return confirmContainerApp(deps, credential, parseKey(input.target)[1], input.ticket);
}

/** Fields for templates: the role the live version belongs to, its password, and where to reach the server. */
export async function templateFields(deps: RotationDeps, credential: Credential, liveVersion: string): Promise<TemplateFields> {
  const vault = deps.vault(credential.keyVault.url);
  const [live, password] = await Promise.all([vault.latest('propagate', credential.keyVault.secret), vault.value('propagate', credential.keyVault.secret, liveVersion)]);
  const user = live?.tags[TAG.role] ?? credential.postgres.role;
  if (!user) throw new RotationError({ code: 'unknown-role', stage: 'propagate', message: `credential "${credential.id}": the live version carries no role tag` });
  return { user, password, host: credential.postgres.host, port: credential.postgres.port, database: credential.postgres.database, sslmode: credential.postgres.consumerSslMode };
}

function parseKey(key: TargetKey): ['github' | 'container-app', number] {
  const match = /^(github|container-app):(\d+)$/.exec(key);
  if (!match) throw new RotationError({ code: 'unknown-target', stage: 'propagate', message: `unknown consumer target ${key}` });
  return [match[1] as 'github' | 'container-app', Number(match[2])];
}
