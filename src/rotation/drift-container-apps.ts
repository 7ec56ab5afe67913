import type { Credential } from '../config/schema';
import { describeApp, type AppSecretRef } from '../targets/container-apps';
import type { SecretVersionInfo } from '../targets/key-vault';
import { appRef, parseSecretReference } from './container-app-consumer';
import type { RotationDeps } from './deps';
import type { FindingCode } from './drift';

/**
 * The drift check of one Container App, read through ARM as the propagation reads it. In
 * key-vault-reference mode each mapped app secret must be a Key Vault reference to the live
 * version (or to the version of a derived secret written from it): a versionless reference
 * leaves the value to the platform's cache. In every mode, the replicas of each active
 * revision must have started after the live version was rotated, or they hold the old value.
 */

type AppTarget = Credential['consumers']['containerApps'][number];

export interface AppFinding {
  code: Extract<FindingCode, `container-app-${string}`>;
  subject: string;
  message: string;
}

/** `rotatedAt` undefined: the live version carries no time to compare replicas with (the caller notes it). */
export async function checkContainerApp(deps: RotationDeps, credential: Credential, index: number, live: SecretVersionInfo, rotatedAt: Date | undefined): Promise<AppFinding[]> {
  const target = credential.consumers.containerApps[index];
  const findings = target.mode === 'key-vault-reference' ? await referenceFindings(deps, credential, target, live) : [];
  return rotatedAt ? [...findings, ...(await replicaFindings(deps, credential, target, rotatedAt))] : findings;
}

async function referenceFindings(deps: RotationDeps, credential: Credential, target: AppTarget, live: SecretVersionInfo): Promise<AppFinding[]> {
  const app = appRef(target);
  const config = await deps.containerApps().configuration('drift', app);
  const propagate = `point it at the live version and restart (repair: propagate, or rotator propagate ${credential.id})`;
  const findings: AppFinding[] = [];
  for (const m of target.secrets) {
    const subject = `${target.app}:${m.name}`;
    const secret = config.secrets.find((s) => s.name === m.name);
    const notReference = notAReference(secret, m.name, describeApp(app));
    if (notReference) {
      findings.push({ code: 'container-app-not-reference', subject, message: `${notReference}: make it a Key Vault reference with the app's identity (az containerapp secret set --name ${target.app} --resource-group ${target.resourceGroup} --secrets ${m.name}=keyvaultref:${secretUrl(credential, m.keyVaultSecret)},identityref:<identity resource id>), then run rotator propagate ${credential.id}` });
      continue;
    }
    // A derived secret missing or not written from the live version is derived-stale's finding; its propagation then repoints the app.
    const version = m.keyVaultSecret === credential.keyVault.secret ? live.version : (await deps.vault(credential.keyVault.url).latest('drift', m.keyVaultSecret))?.version;
    if (version === undefined) continue;
    const why = staleReference(credential, secret!.keyVaultUrl!, m.keyVaultSecret, version);
    if (why) findings.push({ code: 'container-app-reference-stale', subject, message: `app secret ${m.name} of ${describeApp(app)} ${why}; ${propagate}` });
  }
  return findings;
}

function notAReference(secret: AppSecretRef | undefined, name: string, app: string): string | undefined {
  if (!secret) return `${app} has no secret ${name}`;
  if (!secret.keyVaultUrl) return `app secret ${name} of ${app} holds a plain value, not a Key Vault reference`;
  if (!secret.identity) return `app secret ${name} of ${app} references Key Vault with no identity`;
  return undefined;
}

/** Why the reference is not the expected version of the expected secret, or undefined when it is. */
function staleReference(credential: Credential, url: string, secret: string, version: string): string | undefined {
  const ref = parseSecretReference(url);
  const expected = parseSecretReference(secretUrl(credential, secret))!;
  if (!ref || ref.vault !== expected.vault || ref.name !== expected.name) return `references ${url}, not Key Vault secret ${secret} of ${credential.keyVault.url}`;
  const live = secret === credential.keyVault.secret ? 'the live version' : `version ${version}, written from the live version`;
  if (ref.version === undefined) return `references ${secret} without a version, so the version its replicas hold is the platform's cached one, not necessarily ${live}${secret === credential.keyVault.secret ? ` ${version}` : ''}`;
  if (ref.version !== version.toLowerCase()) return `references version ${ref.version} of ${secret}, not ${live}${secret === credential.keyVault.secret ? ` ${version}` : ''}`;
  return undefined;
}

/** Replicas of active revisions that started before the live version was rotated hold the previous value. */
async function replicaFindings(deps: RotationDeps, credential: Credential, target: AppTarget, rotatedAt: Date): Promise<AppFinding[]> {
  const app = appRef(target);
  const arm = deps.containerApps();
  const findings: AppFinding[] = [];
  for (const revision of await arm.activeRevisions('drift', app)) {
    const replicas = await arm.replicas('drift', app, revision.name);
    // A start time ARM does not report cannot show the replica fresh: counted as old, as confirm counts it.
    const old = replicas.filter((r) => r.createdTime === undefined || r.createdTime.getTime() < rotatedAt.getTime());
    if (old.length === 0) continue;
    const oldest = old.map((r) => r.createdTime?.toISOString() ?? 'an unknown time').sort()[0];
    findings.push({
      code: 'container-app-replicas-stale',
      subject: `${target.app}/${revision.name}`,
      message: `revision ${revision.name} of ${describeApp(app)} runs ${old.length} of ${replicas.length} replica(s) started before the live version was rotated (${rotatedAt.toISOString()}), the oldest at ${oldest}: they hold the previous value; restart its active revisions (repair: propagate, or rotator propagate ${credential.id})`,
    });
  }
  return findings;
}

function secretUrl(credential: Credential, secret: string): string {
  return `${credential.keyVault.url.replace(/\/+$/, '')}/secrets/${secret}`;
}
