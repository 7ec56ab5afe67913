import { randomBytes } from 'node:crypto';
import { acceptSecrets, secretsJson, type AppSecret, type ReferencedVault, type ResolvedSecret, type SecretInput } from './container-apps-secrets';

/**
 * The state of emulated Container Apps and how ARM renders it. Revision states are derived
 * from the clock on every read, so a test that drives the clock sees exact transitions
 * without timers.
 */

/**
 * How a revision ends up once it has (re)started. `runningState` is an open enum in the spec
 * (Microsoft.App `Revision.properties.runningState`, `x-ms-enum modelAsString`, known values
 * Running, Processing, Stopped, Degraded, Failed, Unknown); ARM also reports RunningAtMaxScale,
 * Activating, ActivationFailed and ScaledToZero (docs: https://learn.microsoft.com/azure/container-apps/revisions,
 * "Running status"). The object form produces any pair at all, as an open enum allows.
 */
export type RevisionOutcome = 'Healthy' | 'Unhealthy' | 'Failed' | 'ActivationFailed' | 'RunningAtMaxScale' | 'ScaledToZero' | 'Unknown' | { runningState: string; healthState: string };

/** spec `EnvironmentVar`: a plain value or a reference to an app secret. */
export interface EnvVar {
  name: string;
  value?: string;
  secretRef?: string;
}

/**
 * spec `Volume` with `storageType: Secret`, mounted at `mountPath`. Without `secrets`, every
 * app secret is mounted (docs: manage-secrets, "Mounting secrets in a volume").
 */
export interface SecretVolume {
  name: string;
  mountPath: string;
  secrets?: { secretRef: string; path?: string }[];
}

/** One replica, with what it was given at start: a test can ask which password it runs. */
export interface ReplicaState {
  name: string;
  createdTime: number;
  /** By app secret name. */
  secrets: Record<string, ResolvedSecret & { via: ('env' | 'volume')[] }>;
}

/** The `runningState` ARM shows while replicas come up after a start or restart. */
export type ActivatingState = 'Activating' | 'Processing';

export interface RevisionSpec {
  name: string;
  /** Default true. */
  active?: boolean;
  /** Default: 100 for the latest active revision, 0 for the others. */
  trafficWeight?: number;
  /** Replicas once running; default 1. */
  replicas?: number;
  /** Default: one hour before the emulator learns of it, i.e. long settled. */
  createdTime?: Date;
  /** Default `Healthy`. */
  outcome?: RevisionOutcome;
  /** Overrides the emulator-wide activation time for this revision. */
  activationMs?: number;
  image?: string;
  env?: EnvVar[];
  secretVolumes?: SecretVolume[];
}

export interface ContainerAppSpec {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  /** Default `West Europe`. */
  location?: string;
  /** Default `Single`. */
  activeRevisionsMode?: 'Single' | 'Multiple';
  /** In creation order: the last one is the latest revision. */
  revisions: RevisionSpec[];
  /** `properties.configuration.secrets`: values or Key Vault references. */
  secrets?: SecretInput[];
}

export interface RevisionState {
  name: string;
  active: boolean;
  trafficWeight?: number;
  replicas: number;
  createdTime: number;
  /** When replicas last started: creation, or the last restart. */
  startedAt: number;
  restarted: boolean;
  outcome: RevisionOutcome;
  /** Takes effect at the next restart (a running revision does not change on its own). */
  outcomeAfterRestart?: RevisionOutcome;
  activationMs: number;
  lastActiveTime?: number;
  image: string;
  env: EnvVar[];
  secretVolumes: SecretVolume[];
  /** The replicas of the last (re)start. */
  replicaSet: ReplicaState[];
}

export interface AppState {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  activeRevisionsMode: 'Single' | 'Multiple';
  revisions: RevisionState[];
  secrets: AppSecret[];
  createdAt: number;
  lastModifiedAt: number;
  /** Platform secret syncs already applied, counted from `createdAt`. */
  syncs: number;
}

export interface ModelSettings {
  activationMs: number;
  activatingState: ActivatingState;
  vaults: readonly ReferencedVault[];
}

/** What ARM reports for a revision at one instant. */
export interface RevisionView {
  active: boolean;
  runningState: string;
  healthState: string;
  provisioningState: string;
  replicas: number;
  trafficWeight: number;
  provisioningError?: string;
}

export function newApp(spec: ContainerAppSpec, now: number, settings: ModelSettings): AppState {
  if (spec.revisions.length === 0) throw new Error(`container app ${spec.name} needs at least one revision`);
  const app: AppState = {
    subscriptionId: spec.subscriptionId,
    resourceGroup: spec.resourceGroup,
    name: spec.name,
    location: spec.location ?? 'West Europe',
    activeRevisionsMode: spec.activeRevisionsMode ?? 'Single',
    revisions: [],
    secrets: acceptSecrets(spec.secrets ?? [], settings.vaults, [], now),
    createdAt: now,
    lastModifiedAt: now,
    syncs: 0,
  };
  for (const r of spec.revisions) app.revisions.push(newRevision(app, r, now, settings));
  return app;
}

export function newRevision(app: AppState, spec: RevisionSpec, now: number, settings: ModelSettings): RevisionState {
  const createdTime = spec.createdTime?.getTime() ?? now - 3600_000;
  const active = spec.active ?? true;
  const revision: RevisionState = {
    name: spec.name,
    active,
    trafficWeight: spec.trafficWeight,
    replicas: spec.replicas ?? 1,
    createdTime,
    startedAt: createdTime,
    restarted: false,
    outcome: spec.outcome ?? 'Healthy',
    activationMs: spec.activationMs ?? settings.activationMs,
    lastActiveTime: active ? undefined : createdTime,
    image: spec.image ?? 'mcr.microsoft.com/k8se/quickstart:latest',
    env: spec.env ?? [],
    secretVolumes: spec.secretVolumes ?? [],
    replicaSet: [],
  };
  const missing = secretsUsedBy(app, revision).filter((name) => !app.secrets.some((s) => s.name === name));
  if (missing.length > 0) throw new Error(`revision ${spec.name} of ${app.name} references unknown secret(s) ${missing.join(', ')}`);
  if (active) startReplicas(app, revision, createdTime);
  return revision;
}

export function restartRevision(app: AppState, revision: RevisionState, now: number): void {
  revision.startedAt = now;
  revision.restarted = true;
  if (revision.outcomeAfterRestart) {
    revision.outcome = revision.outcomeAfterRestart;
    revision.outcomeAfterRestart = undefined;
  }
  startReplicas(app, revision, now);
}

/** App secrets a revision's container reads: `env[].secretRef` and its secret volumes. */
export function secretsUsedBy(app: AppState, revision: RevisionState): string[] {
  const names = new Set(revision.env.flatMap((e) => (e.secretRef ? [e.secretRef] : [])));
  for (const volume of revision.secretVolumes) for (const name of volume.secrets?.map((s) => s.secretRef) ?? app.secrets.map((s) => s.name)) names.add(name);
  return [...names];
}

export function usesInEnv(revision: RevisionState, secret: string): boolean {
  return revision.env.some((e) => e.secretRef === secret);
}

/**
 * New replicas take each secret as the platform holds it at that moment: a value, or the
 * cached version of a reference (docs: manage-secrets, "Key Vault secret URI and secret
 * rotation"). A volume file is written once at start: the docs do not say mounted files
 * follow later changes, so the stricter model is that they do not.
 */
function startReplicas(app: AppState, revision: RevisionState, at: number): void {
  const running = !['ScaledToZero', 'Failed', 'ActivationFailed'].includes(revision.outcome as string);
  const count = running ? revision.replicas : 0;
  revision.replicaSet = Array.from({ length: count }, () => ({ name: `${revision.name}-${randomBytes(4).toString('hex')}`, createdTime: at, secrets: snapshot(app, revision) }));
}

function snapshot(app: AppState, revision: RevisionState): ReplicaState['secrets'] {
  const taken: ReplicaState['secrets'] = {};
  for (const name of secretsUsedBy(app, revision)) {
    const secret = app.secrets.find((s) => s.name === name);
    if (!secret) continue;
    const via: ('env' | 'volume')[] = [];
    if (usesInEnv(revision, name)) via.push('env');
    if (revision.secretVolumes.some((v) => !v.secrets || v.secrets.some((s) => s.secretRef === name))) via.push('volume');
    taken[name] = { ...secret.resolved, via };
  }
  return taken;
}

/** When a (re)started revision becomes healthy, or undefined if it never will. */
export function readyAt(revision: RevisionState): number | undefined {
  return ['Healthy', 'RunningAtMaxScale', 'ScaledToZero'].includes(revision.outcome as string) ? revision.startedAt + revision.activationMs : undefined;
}

export function viewRevision(app: AppState, revision: RevisionState, now: number, settings: ModelSettings): RevisionView {
  const trafficWeight = trafficOf(app, revision);
  if (!revision.active) return { active: false, runningState: 'Stopped', healthState: 'None', provisioningState: 'Provisioned', replicas: 0, trafficWeight };
  if (now - revision.startedAt < revision.activationMs) {
    // A first start is still provisioning; a restart of a provisioned revision is not.
    const provisioningState = revision.restarted ? 'Provisioned' : 'Provisioning';
    return { active: true, runningState: settings.activatingState, healthState: 'None', provisioningState, replicas: 0, trafficWeight };
  }
  return settledView(revision, trafficWeight);
}

function settledView(revision: RevisionState, trafficWeight: number): RevisionView {
  const base = { active: true, trafficWeight, provisioningState: 'Provisioned' };
  const outcome = revision.outcome;
  if (typeof outcome === 'object') return { ...base, ...outcome, replicas: revision.replicaSet.length };
  switch (outcome) {
    case 'Healthy':
      return { ...base, runningState: 'Running', healthState: 'Healthy', replicas: revision.replicas };
    // At its maximum replica count the revision reports RunningAtMaxScale (docs: revisions, "Running status").
    case 'RunningAtMaxScale':
      return { ...base, runningState: 'RunningAtMaxScale', healthState: 'Healthy', replicas: revision.replicas };
    // Scaled to zero: no replicas, so nothing to probe and health is None.
    case 'ScaledToZero':
      return { ...base, runningState: 'ScaledToZero', healthState: 'None', replicas: 0 };
    case 'Unhealthy':
      return { ...base, runningState: 'Degraded', healthState: 'Unhealthy', replicas: revision.replicas };
    case 'Unknown':
      return { ...base, runningState: 'Unknown', healthState: 'None', replicas: 0 };
    case 'Failed':
    case 'ActivationFailed':
      return {
        ...base,
        runningState: outcome,
        healthState: 'Unhealthy',
        provisioningState: 'Failed',
        replicas: 0,
        provisioningError: `Container 'main' in revision '${revision.name}' is crashing: exited with code 1.`,
      };
  }
}

function trafficOf(app: AppState, revision: RevisionState): number {
  if (!revision.active) return 0;
  if (revision.trafficWeight !== undefined) return revision.trafficWeight;
  const latestActive = [...app.revisions].reverse().find((r) => r.active);
  return latestActive === revision ? 100 : 0;
}

/** The latest revision that finished its first start without failing. */
export function latestReadyRevision(app: AppState, now: number): RevisionState | undefined {
  return [...app.revisions].reverse().find((r) => r.outcome !== 'Failed' && r.outcome !== 'ActivationFailed' && now - r.createdTime >= r.activationMs);
}

// ---- ARM JSON ------------------------------------------------------------------------------

export function appResourceId(app: AppState): string {
  return `/subscriptions/${app.subscriptionId}/resourceGroups/${app.resourceGroup}/providers/Microsoft.App/containerApps/${app.name}`;
}

const ENVIRONMENT_DOMAIN = 'happyhill-1a2b3c4d.westeurope.azurecontainerapps.io';

export function revisionJson(app: AppState, revision: RevisionState, now: number, settings: ModelSettings): unknown {
  const view = viewRevision(app, revision, now, settings);
  const lastActive = revision.active ? now : revision.lastActiveTime ?? revision.createdTime;
  return {
    id: `${appResourceId(app)}/revisions/${revision.name}`,
    name: revision.name,
    type: 'Microsoft.App/containerApps/revisions',
    properties: {
      createdTime: new Date(revision.createdTime).toISOString(),
      lastActiveTime: new Date(lastActive).toISOString(),
      fqdn: `${revision.name}.${ENVIRONMENT_DOMAIN}`,
      template: templateJson(revision),
      ...view,
    },
  };
}

export function appJson(app: AppState, now: number): unknown {
  const latest = app.revisions[app.revisions.length - 1];
  const environmentId = `/subscriptions/${app.subscriptionId}/resourceGroups/${app.resourceGroup}/providers/Microsoft.App/managedEnvironments/env-${app.resourceGroup}`;
  return {
    id: appResourceId(app),
    name: app.name,
    type: 'Microsoft.App/containerApps',
    location: app.location,
    tags: {},
    properties: {
      provisioningState: 'Succeeded',
      runningStatus: 'Running',
      managedEnvironmentId: environmentId,
      environmentId,
      workloadProfileName: 'Consumption',
      latestRevisionName: latest.name,
      latestReadyRevisionName: latestReadyRevision(app, now)?.name ?? '',
      latestRevisionFqdn: `${latest.name}.${ENVIRONMENT_DOMAIN}`,
      configuration: { activeRevisionsMode: app.activeRevisionsMode, maxInactiveRevisions: 100, secrets: secretsJson(app.secrets, false) },
      template: templateJson(latest),
      outboundIpAddresses: ['20.0.0.1'],
    },
    // ARM's common `systemData`: lastModifiedAt moves with every write of the app.
    systemData: {
      createdAt: new Date(app.createdAt).toISOString(),
      createdByType: 'User',
      lastModifiedAt: new Date(app.lastModifiedAt).toISOString(),
      lastModifiedByType: 'Application',
    },
  };
}

function templateJson(revision: RevisionState): unknown {
  const volumeMounts = revision.secretVolumes.map((v) => ({ volumeName: v.name, mountPath: v.mountPath }));
  return {
    containers: [{ name: 'main', image: revision.image, resources: { cpu: 0.5, memory: '1Gi' }, ...(revision.env.length ? { env: revision.env } : {}), ...(volumeMounts.length ? { volumeMounts } : {}) }],
    scale: { minReplicas: revision.replicas, maxReplicas: Math.max(revision.replicas, 10) },
    ...(revision.secretVolumes.length ? { volumes: revision.secretVolumes.map((v) => ({ name: v.name, storageType: 'Secret', ...(v.secrets ? { secrets: v.secrets } : {}) })) } : {}),
  };
}

/** spec `Replica`: its creation time is when it started with the secrets it holds. */
export function replicaJson(app: AppState, revision: RevisionState, replica: ReplicaState, running: boolean): unknown {
  return {
    id: `${appResourceId(app)}/revisions/${revision.name}/replicas/${replica.name}`,
    name: replica.name,
    type: 'Microsoft.App/containerApps/revisions/replicas',
    properties: {
      createdTime: new Date(replica.createdTime).toISOString(),
      runningState: running ? 'Running' : 'NotRunning',
      containers: [{ name: 'main', containerId: replica.name, ready: running, started: running, restartCount: 0, runningState: running ? 'Running' : 'Waiting' }],
    },
  };
}
