import type { Credential } from '../config/schema';
import type { OutgoingCloudEvent } from '../targets/event-grid';
import type { SecretVersionInfo } from '../targets/key-vault';
import type { RotationDeps } from './deps';
import type { HealthReport } from './drift';

/**
 * The last health a drift check recorded, kept where the credential's state already lives:
 * a tag on the live secret's version. A rotation writes a new live version without it, so
 * the last recorded health is the tag of the newest version that carries one (older
 * versions stay listed, disabled). Events go out only when the recorded health changes.
 */

export const HEALTH_TAG = 'drift-health';
export const CREDENTIAL_EVENT_PREFIX = 'com.credentialrotator.credential';

/** `healthy`, or `drifted:<codes>` so a drift that changes its cause is a change too. */
export type HealthState = string;

export interface HealthEventData {
  credentialId: string;
  health: 'drifted' | 'recovered';
  previous?: HealthState;
  current: HealthState;
  liveVersion?: string;
  findings: { code: string; severity: string; subject: string }[];
  checkedAt: string;
}

export interface Recorded {
  previous?: HealthState;
  current: HealthState;
  /** The event sent for this change, if any. */
  event?: 'drifted' | 'recovered';
}

export function healthState(report: HealthReport): HealthState {
  if (report.health === 'healthy') return 'healthy';
  const codes = [...new Set(report.findings.filter((f) => f.severity !== 'warning').map((f) => f.code))].sort();
  return `drifted:${codes.join(',')}`;
}

export async function lastHealth(deps: RotationDeps, credential: Credential): Promise<{ state?: HealthState; version?: string }> {
  const vault = deps.vault(credential.keyVault.url);
  const live = await vault.latest('drift', credential.keyVault.secret);
  if (live?.tags[HEALTH_TAG] !== undefined) return { state: live.tags[HEALTH_TAG], version: live.version };
  const versions = await vault.versions('drift', credential.keyVault.secret);
  const tagged = versions.filter((v) => v.tags[HEALTH_TAG] !== undefined).sort(byCreated).at(-1);
  return { state: tagged?.tags[HEALTH_TAG], version: tagged?.version };
}

/**
 * Records the report's health on the live version when it differs from the last recorded
 * one, and publishes `…credential.drifted` on a change to drifted, `…credential.recovered`
 * on a change from drifted to healthy. Without a live secret there is nowhere to record.
 */
export async function recordHealth(deps: RotationDeps, credential: Credential, report: HealthReport): Promise<Recorded> {
  const current = healthState(report);
  const { state: previous } = await lastHealth(deps, credential);
  if (previous === current || !report.liveVersion) return { previous, current };
  const vault = deps.vault(credential.keyVault.url);
  const live = await vault.latest('drift', credential.keyVault.secret);
  if (!live || live.version !== report.liveVersion) return { previous, current };
  await vault.setTags('drift', live.name, live.version, { ...live.tags, [HEALTH_TAG]: current });
  const event = current !== 'healthy' ? 'drifted' : previous?.startsWith('drifted') ? 'recovered' : undefined;
  if (event && deps.events) await deps.events.publish('drift', [healthEvent(event, credential, report, previous, current)]);
  return { previous, current, event };
}

function healthEvent(step: 'drifted' | 'recovered', credential: Credential, report: HealthReport, previous: HealthState | undefined, current: HealthState): OutgoingCloudEvent<HealthEventData> {
  const data: HealthEventData = {
    credentialId: credential.id,
    health: step,
    current,
    ...(previous !== undefined ? { previous } : {}),
    ...(report.liveVersion ? { liveVersion: report.liveVersion } : {}),
    findings: report.findings.map((f) => ({ code: f.code, severity: f.severity, subject: f.subject })),
    checkedAt: report.checkedAt,
  };
  return { id: `${credential.id}.${step}.${report.checkedAt}`, type: `${CREDENTIAL_EVENT_PREFIX}.${step}`, source: `/credentials/${credential.id}`, time: report.checkedAt, data };
}

function byCreated(a: SecretVersionInfo, b: SecretVersionInfo): number {
  return Date.parse(a.createdOn ?? '') - Date.parse(b.createdOn ?? '');
}
