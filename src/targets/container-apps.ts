import type { ContainerAppsAPIClient, ContainerAppsAPIClientOptionalParams, Revision, Secret } from '@azure/arm-appcontainers';
import type { TokenCredential } from '@azure/core-auth';
import { isTransient, RotationError } from '../errors';

/** A container app as the configuration names it. */
export interface ContainerAppRef {
  subscription: string;
  resourceGroup: string;
  app: string;
}

/** What ARM reports of a revision at one instant. */
export interface RevisionStatus {
  name: string;
  runningState: string;
  healthState: string;
  replicas: number;
  active: boolean;
  trafficWeight: number;
}

/** An app secret as ARM shows it: a Key Vault reference, or a value ARM does not reveal on GET. */
export interface AppSecretRef {
  name: string;
  keyVaultUrl?: string;
  identity?: string;
}

/** A secret as written back: a reference, or a value secret returned unchanged. */
export type WritableSecret = AppSecretRef & { value?: string };

/** What the rotator needs of an app: its secrets and when it last changed. */
export interface AppConfiguration {
  location: string;
  secrets: AppSecretRef[];
  /** ARM's systemData.lastModifiedAt: replicas started before it may hold older secrets. */
  lastModifiedAt?: Date;
}

export interface ReplicaStatus {
  name: string;
  createdTime?: Date;
}

export interface ContainerAppsOptions {
  /** Azure Resource Manager endpoint, e.g. https://management.azure.com. */
  endpoint: string;
  credential: TokenCredential;
  /** Extra client options (pipeline policies, retry timings); endpoint and scopes are always ours. */
  clientOptions?: ContainerAppsAPIClientOptionalParams;
  /** How often the SDK polls an app update that ARM answers as long-running; default the SDK's. */
  pollIntervalMs?: number;
}

/**
 * The only module that talks to ARM for Container Apps: the operations of
 * CONTAINER_APPS_ACTIONS. The one write is the app's secrets array, which ARM replaces whole.
 */
export class ContainerApps {
  private readonly clients = new Map<string, ContainerAppsAPIClient>();
  private readonly endpoint: string;

  constructor(private readonly options: ContainerAppsOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
  }

  /** The app's active revisions: the ones a restart must cycle for a new secret to take effect. */
  async activeRevisions(stage: string, app: ContainerAppRef): Promise<RevisionStatus[]> {
    return this.call(stage, app, 'listing revisions', async (client) => {
      const active: RevisionStatus[] = [];
      for await (const revision of client.containerAppsRevisions.listRevisions(app.resourceGroup, app.app)) {
        if (revision.active) active.push(statusOf(revision));
      }
      return active;
    });
  }

  /** Reads the app itself: proof it exists and the caller may read it. */
  async readApp(stage: string, app: ContainerAppRef): Promise<{ latestRevision?: string }> {
    return this.call(stage, app, 'reading', async (client) => ({ latestRevision: (await client.containerApps.get(app.resourceGroup, app.app)).latestRevisionName }));
  }

  /** Restarts the revision's replicas; ARM answers at once and the replicas come back over time. */
  async restartRevision(stage: string, app: ContainerAppRef, revision: string): Promise<void> {
    await this.call(stage, app, `restarting revision ${revision}`, (client) => client.containerAppsRevisions.restartRevision(app.resourceGroup, app.app, revision));
  }

  async revisionState(stage: string, app: ContainerAppRef, revision: string): Promise<RevisionStatus> {
    return this.call(stage, app, `reading revision ${revision}`, async (client) => statusOf(await client.containerAppsRevisions.getRevision(app.resourceGroup, app.app, revision)));
  }

  /** The app's secrets as GET shows them: names and references, never values. */
  async configuration(stage: string, app: ContainerAppRef): Promise<AppConfiguration> {
    return this.call(stage, app, 'reading the app', async (client) => {
      const found = await client.containerApps.get(app.resourceGroup, app.app);
      return { location: found.location, secrets: (found.configuration?.secrets ?? []).map(secretRefOf), lastModifiedAt: found.systemData?.lastModifiedAt };
    });
  }

  /**
   * The value secrets the app keeps in ARM, for writing them back unchanged: ARM replaces the
   * secrets array whole and GET never returns values. Only called when the app has some.
   */
  async valueSecrets(stage: string, app: ContainerAppRef): Promise<Map<string, string>> {
    return this.call(stage, app, 'listing secrets', async (client) => {
      const listed = await client.containerApps.listSecrets(app.resourceGroup, app.app);
      return new Map(listed.value.flatMap((s) => (s.name && s.value !== undefined && !s.keyVaultUrl ? [[s.name, s.value] as const] : [])));
    });
  }

  /** Replaces the app's secrets array; returns ARM's new lastModifiedAt. */
  async replaceSecrets(stage: string, app: ContainerAppRef, location: string, secrets: WritableSecret[]): Promise<Date | undefined> {
    return this.call(stage, app, 'updating secrets', async (client) => {
      const updated = await client.containerApps.update(app.resourceGroup, app.app, { location, configuration: { secrets } }, { updateIntervalInMs: this.options.pollIntervalMs });
      return updated.systemData?.lastModifiedAt;
    });
  }

  async replicas(stage: string, app: ContainerAppRef, revision: string): Promise<ReplicaStatus[]> {
    return this.call(stage, app, `listing replicas of revision ${revision}`, async (client) => {
      const listed = await client.containerAppsRevisionReplicas.listReplicas(app.resourceGroup, app.app, revision);
      return listed.value.map((r) => ({ name: r.name ?? '', createdTime: r.createdTime }));
    });
  }

  private async call<T>(stage: string, app: ContainerAppRef, what: string, work: (client: ContainerAppsAPIClient) => Promise<T>): Promise<T> {
    try {
      return await work(this.client(app.subscription));
    } catch (error) {
      throw classifyArmError(stage, `${what} of ${describeApp(app)}`, error);
    }
  }

  private client(subscription: string): ContainerAppsAPIClient {
    let client = this.clients.get(subscription);
    if (!client) {
      // Required on first use, so a cold start does not load the SDK. v4 reads `endpoint` and
      // `credentials.scopes`; the v3 names would be ignored silently.
      const { ContainerAppsAPIClient } = require('@azure/arm-appcontainers') as typeof import('@azure/arm-appcontainers');
      client = new ContainerAppsAPIClient(this.options.credential, subscription, {
        ...this.options.clientOptions,
        endpoint: this.endpoint,
        credentials: { scopes: [`${this.endpoint}/.default`] },
      });
      this.clients.set(subscription, client);
    }
    return client;
  }
}

export function appResourceId(app: ContainerAppRef): string {
  return `/subscriptions/${app.subscription}/resourceGroups/${app.resourceGroup}/providers/Microsoft.App/containerApps/${app.app}`;
}

export function describeApp(app: ContainerAppRef): string {
  return `container app ${app.app} (resource group ${app.resourceGroup}, subscription ${app.subscription})`;
}

function secretRefOf(secret: Secret): AppSecretRef {
  return { name: secret.name ?? '', keyVaultUrl: secret.keyVaultUrl, identity: secret.identity };
}

function statusOf(revision: Revision): RevisionStatus {
  return {
    name: revision.name ?? '',
    runningState: revision.runningState ?? 'Unknown',
    healthState: revision.healthState ?? 'None',
    replicas: revision.replicas ?? 0,
    active: revision.active === true,
    trafficWeight: revision.trafficWeight ?? 0,
  };
}

/** Builds a fresh error from status, ARM's error code and its message: the SDK error holds the request with its token. */
export function classifyArmError(stage: string, what: string, error: unknown): RotationError {
  if (error instanceof RotationError) return error;
  const { statusCode: status, code, message } = error as { statusCode?: number; code?: string; message?: string };
  // ARM's 409 means another operation on the app is in progress: it ends by itself.
  const retryable = isTransient(status, code) || status === 409;
  const kind = status === 404 ? 'container-app-not-found' : status === 401 || status === 403 ? 'container-apps-forbidden' : retryable ? 'container-apps-unavailable' : 'container-apps-error';
  const text = (message ?? String(error)).replace(/\s+/g, ' ').trim();
  // The SDK's paging helper replaces ARM's message with its own, which adds nothing to the status and code.
  const detail = /^Pagination failed with unexpected statusCode/.test(text) ? '' : `: ${text}`;
  return new RotationError({ code: kind, stage, retryable, status, message: `${what} failed: ARM ${status ?? code ?? 'error'}${status && code ? ` ${code}` : ''}${detail}` });
}
