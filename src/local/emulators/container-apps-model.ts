/**
 * The state of emulated Container Apps and how ARM renders it. Revision states are derived
 * from the clock on every read, so a test that drives the clock sees exact transitions
 * without timers.
 */

/** How a revision ends up once it has (re)started. */
export type RevisionOutcome = 'Healthy' | 'Unhealthy' | 'Failed';
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
}

export interface AppState {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  activeRevisionsMode: 'Single' | 'Multiple';
  revisions: RevisionState[];
}

export interface ModelSettings {
  activationMs: number;
  activatingState: ActivatingState;
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
  return {
    subscriptionId: spec.subscriptionId,
    resourceGroup: spec.resourceGroup,
    name: spec.name,
    location: spec.location ?? 'West Europe',
    activeRevisionsMode: spec.activeRevisionsMode ?? 'Single',
    revisions: spec.revisions.map((r) => newRevision(r, now, settings)),
  };
}

export function newRevision(spec: RevisionSpec, now: number, settings: ModelSettings): RevisionState {
  const createdTime = spec.createdTime?.getTime() ?? now - 3600_000;
  const active = spec.active ?? true;
  return {
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
  };
}

export function restartRevision(revision: RevisionState, now: number): void {
  revision.startedAt = now;
  revision.restarted = true;
  if (revision.outcomeAfterRestart) {
    revision.outcome = revision.outcomeAfterRestart;
    revision.outcomeAfterRestart = undefined;
  }
}

/** When a (re)started revision becomes healthy, or undefined if it never will. */
export function readyAt(revision: RevisionState): number | undefined {
  return revision.outcome === 'Healthy' ? revision.startedAt + revision.activationMs : undefined;
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
  switch (revision.outcome) {
    case 'Healthy':
      return { ...base, runningState: 'Running', healthState: 'Healthy', replicas: revision.replicas };
    case 'Unhealthy':
      return { ...base, runningState: 'Degraded', healthState: 'Unhealthy', replicas: revision.replicas };
    case 'Failed':
      return {
        ...base,
        runningState: 'Failed',
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
  return [...app.revisions].reverse().find((r) => r.outcome !== 'Failed' && now - r.createdTime >= r.activationMs);
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
      configuration: { activeRevisionsMode: app.activeRevisionsMode, maxInactiveRevisions: 100 },
      template: templateJson(latest),
      outboundIpAddresses: ['20.0.0.1'],
    },
  };
}

function templateJson(revision: RevisionState): unknown {
  return {
    containers: [{ name: 'main', image: revision.image, resources: { cpu: 0.5, memory: '1Gi' } }],
    scale: { minReplicas: revision.replicas, maxReplicas: Math.max(revision.replicas, 10) },
  };
}
