import type { DurableClient } from 'durable-functions';
import type { Credential } from '../config/schema';
import { instanceIdFor } from '../orchestrations/contract';
import type { RotationDeps } from '../rotation/deps';
import { lastHealth } from '../rotation/drift-health';
import { nextDue } from '../rotation/schedule';
import { TAG } from '../rotation/state';
import type { RotationStatus, StageRecord, TargetResult } from '../rotation/status';
import { currentStatus } from './start-rotation';

/** What the dashboard shows of one credential: names, dates, outcomes, timings; never a value or a version's content. */
export interface CredentialView {
  id: string;
  strategy: Credential['strategy'];
  role: string | null;
  rotatedAt: string | null;
  expiresOn: string | null;
  nextDue: string | null;
  /** The last drift check's verdict, `healthy` or `drifted:<codes>`; null until a check has run. */
  health: string | null;
  last: LastRotation | null;
  /** Why the row needs a look: failed, degraded, drifted, expired or expiring, running; null when all is well. */
  attention: Attention | null;
}

export type Attention = 'failed' | 'degraded' | 'drifted' | 'expired' | 'running';

export interface LastRotation {
  rotationId: string | null;
  runtimeStatus: string;
  outcome: RotationStatus['outcome'] | null;
  stage: string | null;
  reason: string | null;
  error: { code: string; stage: string; message: string } | null;
  stages: StageRecord[];
  targets: TargetResult[];
  events: NonNullable<RotationStatus['events']>;
  updatedAt: string;
}

/** The fleet, one credential per row, in configuration order. The one place the dashboard reads from; extend it here. */
export async function fleetView(deps: RotationDeps, client: DurableClient): Promise<CredentialView[]> {
  const now = deps.now();
  return Promise.all(deps.config.credentials.map((c) => credentialView(deps, client, c, now)));
}

async function credentialView(deps: RotationDeps, client: DurableClient, c: Credential, now: Date): Promise<CredentialView> {
  const [live, status, health] = await Promise.all([deps.vault(c.keyVault.url).latest('api', c.keyVault.secret), currentStatus(client, instanceIdFor(c.id)), lastHealth(deps, c)]);
  const custom = status?.customStatus as RotationStatus | undefined;
  const last: LastRotation | null = status
    ? {
        rotationId: custom?.rotationId ?? null,
        runtimeStatus: String(status.runtimeStatus),
        outcome: custom?.outcome ?? null,
        stage: custom?.stage ?? null,
        reason: custom?.reason ?? null,
        error: custom?.error ? { code: custom.error.code, stage: custom.error.stage, message: custom.error.message } : null,
        stages: custom?.stages ?? [],
        targets: custom?.targets ?? [],
        events: custom?.events ?? [],
        updatedAt: new Date(status.lastUpdatedTime).toISOString(),
      }
    : null;
  const view = {
    id: c.id,
    strategy: c.strategy,
    role: live?.tags[TAG.role] ?? c.postgres.role ?? null,
    rotatedAt: live?.tags[TAG.rotatedAt] ?? live?.createdOn ?? null,
    expiresOn: live?.expiresOn ?? null,
    nextDue: nextDue(c, live, now)?.toISOString() ?? null,
    health: health.state ?? null,
    last,
  };
  return { ...view, attention: attentionOf(view, now) };
}

/** The most serious reason first: a failed rotation outranks a degraded one, which outranks drift or expiry. */
function attentionOf(view: Omit<CredentialView, 'attention'>, now: Date): Attention | null {
  const outcome = view.last?.outcome;
  const failedRun = outcome === 'failed' || ['Failed', 'Terminated'].includes(view.last?.runtimeStatus ?? '');
  if (failedRun) return 'failed';
  if (outcome === 'degraded') return 'degraded';
  if (view.health && view.health !== 'healthy') return 'drifted';
  if (view.expiresOn && Date.parse(view.expiresOn) <= now.getTime()) return 'expired';
  if (outcome === 'running') return 'running';
  return null;
}
