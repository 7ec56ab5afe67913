// Sources for what this ARM emulator models: the Container Apps REST API
// (https://learn.microsoft.com/rest/api/resource-manager/containerapps/container-apps and
// .../container-apps-revisions, spec specification/app/resource-manager/Microsoft.App),
// app secrets and Key Vault references (https://learn.microsoft.com/azure/container-apps/manage-secrets),
// revision running and health states (https://learn.microsoft.com/azure/container-apps/revisions),
// ARM error bodies and bearer challenges (https://learn.microsoft.com/azure/azure-resource-manager/management/common-deployment-errors,
// https://github.com/cloud-and-ai-microsoft/resource-provider-contract, "Error response content").
import { randomUUID } from 'node:crypto';
import { permissionsResponse, permissionsScope } from './arm-permissions';
import { LoopbackEmulator, json, type EmulatorRequest, type EmulatorResponse, type Fault } from './loopback-emulator';
import {
  appJson,
  newApp,
  newRevision,
  readyAt,
  replicaJson,
  restartRevision,
  revisionJson,
  secretsUsedBy,
  usesInEnv,
  viewRevision,
  type ActivatingState,
  type AppState,
  type ContainerAppSpec,
  type ModelSettings,
  type RevisionOutcome,
  type RevisionSpec,
  type RevisionState,
  type RevisionView,
} from './container-apps-model';
import { acceptSecrets, SecretError, secretsJson, syncReferences, type ReferencedVault, type ResolvedSecret } from './container-apps-secrets';

export type { ActivatingState, ContainerAppSpec, EnvVar, RevisionOutcome, RevisionSpec, RevisionView, SecretVolume } from './container-apps-model';
export type { ReferencedVault, SecretInput } from './container-apps-secrets';

/** A caller ARM knows. `actions` are RBAC actions, with `*` as a trailing wildcard; default all. */
export interface ArmPrincipal {
  token: string;
  objectId?: string;
  actions?: string[];
  /** RBAC data actions (Key Vault secrets), reported by Microsoft.Authorization/permissions. */
  dataActions?: string[];
}

export interface ContainerAppsEmulatorOptions {
  tokens: Array<string | ArmPrincipal>;
  apps?: ContainerAppSpec[];
  /** Default: the `KnownVersions` of @azure/arm-appcontainers 4.0.0, which sends 2026-07-01. */
  apiVersions?: string[];
  /** Milliseconds since the epoch; revision states are computed from it on every read. */
  clock?: () => number;
  /** How long a (re)started revision takes to become Running; default 2000 ms. */
  activationMs?: number;
  /** Default `Activating`. */
  activatingState?: ActivatingState;
  /** Revisions per list page before ARM hands out a `nextLink`; default 50. */
  pageSize?: number;
  /** Vaults that Key Vault references resolve against. */
  keyVaults?: ReferencedVault[];
  /** The platform's refresh interval for versionless references; default 30 minutes (docs: manage-secrets). */
  secretSyncMs?: number;
}

/** An app secret as a test or a drift check reads it: never through HTTP, so values stay out of ARM traffic. */
export interface AppSecretView {
  name: string;
  kind: 'value' | 'key-vault';
  keyVaultUrl?: string;
  identity?: string;
  /** References: the Key Vault version the platform holds now (new replicas start with it). */
  version?: string;
}

/** A running replica of an active revision and the secrets it started with. */
export interface ReplicaView {
  revision: string;
  name: string;
  createdTime: Date;
  secrets: Record<string, ResolvedSecret & { via: ('env' | 'volume')[] }>;
}

export interface RestartRecord {
  subscriptionId: string;
  resourceGroup: string;
  app: string;
  revision: string;
  at: Date;
  /** When the revision will be Running and Healthy again; undefined if it never will. */
  readyAt?: Date;
  /** `client`: a restart request; `platform`: a secret sync restarting env-var users. */
  by: 'client' | 'platform';
}

export type RestartListener = (restart: RestartRecord) => void | Promise<void>;

const READ_APP = 'Microsoft.App/containerApps/read';
const READ_REVISION = 'Microsoft.App/containerApps/revisions/read';
const RESTART_REVISION = 'Microsoft.App/containerApps/revisions/restart/action';
const WRITE_APP = 'Microsoft.App/containerApps/write';
const LIST_SECRETS = 'Microsoft.App/containerApps/listSecrets/action';
const READ_REPLICAS = 'Microsoft.App/containerApps/revisions/replicas/read';

type Operation = 'getApp' | 'updateApp' | 'replaceApp' | 'listSecrets' | 'listRevisions' | 'getRevision' | 'restartRevision' | 'listReplicas';

const ACTIONS: Record<Operation, string> = {
  getApp: READ_APP,
  updateApp: WRITE_APP,
  replaceApp: WRITE_APP,
  listSecrets: LIST_SECRETS,
  listRevisions: READ_REVISION,
  getRevision: READ_REVISION,
  restartRevision: RESTART_REVISION,
  listReplicas: READ_REPLICAS,
};

interface Target {
  operation: Operation;
  subscriptionId: string;
  resourceGroup: string;
  app: string;
  revision?: string;
}

/**
 * Azure Resource Manager for Microsoft.App container apps and their revisions, as the real
 * `ContainerAppsAPIClient` (v4) calls it. Strict about bearer tokens, api-version, RBAC and
 * existence; restarts are recorded and move the revision through activation on the clock.
 */
export class ContainerAppsEmulator extends LoopbackEmulator {
  readonly contract = { specs: ['container-apps.json', 'container-apps-revisions.json', 'authorization-permissions.json'] };
  private readonly apps = new Map<string, AppState>();
  private readonly principals = new Map<string, Required<ArmPrincipal>>();
  /** Resources other than container apps that ARM knows (vaults), by lower-case id. */
  private readonly resources = new Set<string>();
  private readonly restartLog: RestartRecord[] = [];
  private readonly listeners = new Set<RestartListener>();
  private readonly apiVersions: string[];
  private readonly clock: () => number;
  private readonly settings: ModelSettings;
  private readonly pageSize: number;
  private readonly secretSyncMs: number;
  /** Errors thrown by restart listeners; the restart itself still succeeds, as on the platform. */
  readonly listenerErrors: unknown[] = [];

  constructor(options: ContainerAppsEmulatorOptions) {
    super();
    this.clock = options.clock ?? Date.now;
    this.apiVersions = options.apiVersions ?? ['2026-01-01', '2026-07-01'];
    this.settings = { activationMs: options.activationMs ?? 2000, activatingState: options.activatingState ?? 'Activating', vaults: options.keyVaults ?? [] };
    this.pageSize = options.pageSize ?? 50;
    this.secretSyncMs = options.secretSyncMs ?? 30 * 60_000;
    for (const token of options.tokens) this.addPrincipal(typeof token === 'string' ? { token } : token);
    for (const app of options.apps ?? []) this.addApp(app);
  }

  // ---- configuration -------------------------------------------------------------------

  addPrincipal(principal: ArmPrincipal): void {
    this.principals.set(principal.token, { objectId: principal.objectId ?? randomUUID(), actions: principal.actions ?? ['*'], dataActions: principal.dataActions ?? [], token: principal.token });
  }

  /** A resource ARM knows besides the container apps (e.g. a vault), so permissions can be read at its scope. */
  addResource(resourceId: string): void {
    this.resources.add(resourceId.toLowerCase());
  }

  addApp(spec: ContainerAppSpec): void {
    this.apps.set(appKey(spec.subscriptionId, spec.resourceGroup, spec.name), newApp(spec, this.clock(), this.settings));
  }

  /** A new latest revision, created now; in Single mode it replaces the active one. */
  addRevision(app: string, spec: RevisionSpec): void {
    const state = this.appNamed(app);
    const now = this.clock();
    if (state.activeRevisionsMode === 'Single') for (const r of state.revisions) deactivate(r, now);
    state.revisions.push(newRevision(state, { createdTime: new Date(now), ...spec }, now, this.settings));
  }

  /** How the revision will end up after its next restart (e.g. `Failed` for a bad secret). */
  setRestartOutcome(app: string, revision: string, outcome: RevisionOutcome): void {
    this.revisionNamed(app, revision).outcomeAfterRestart = outcome;
  }

  /** Hears restart requests (`by: 'client'`); the platform's own sync restarts are only in `restarts()`. */
  onRestart(listener: RestartListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- inspection ----------------------------------------------------------------------

  /** The app's `configuration.secrets` as the platform holds them, after any sync due by now. */
  appSecrets(app: string): AppSecretView[] {
    const state = this.appNamed(app);
    this.sync(state);
    return state.secrets.map((s) => ({ name: s.name, kind: s.keyVaultUrl ? 'key-vault' : 'value', keyVaultUrl: s.keyVaultUrl, identity: s.identity, version: s.resolved.version }));
  }

  /** Replicas of the app's active revisions (or of one revision) with the secrets each started with. */
  replicas(app: string, revision?: string): ReplicaView[] {
    const state = this.appNamed(app);
    this.sync(state);
    const revisions = state.revisions.filter((r) => r.active && (revision === undefined || same(r.name, revision)));
    return revisions.flatMap((r) => r.replicaSet.map((x) => ({ revision: r.name, name: x.name, createdTime: new Date(x.createdTime), secrets: structuredClone(x.secrets) })));
  }

  /** Every restart so far, the platform's included (syncs due by now are applied first). */
  restarts(app?: string): RestartRecord[] {
    for (const state of this.apps.values()) this.sync(state);
    return this.restartLog.filter((r) => app === undefined || r.app.toLowerCase() === app.toLowerCase()).map((r) => ({ ...r }));
  }

  revisionView(app: string, revision: string): RevisionView {
    const state = this.appNamed(app);
    this.sync(state);
    return viewRevision(state, this.revisionNamed(app, revision), this.clock(), this.settings);
  }

  /** Matches requests that restart a revision (of one app, if given), for `inject`. */
  static isRestart(app?: string): NonNullable<Fault['match']> {
    return (req) => req.method === 'POST' && /\/revisions\/[^/]+\/restart$/i.test(req.path) && (app === undefined || req.path.toLowerCase().includes(`/containerapps/${app.toLowerCase()}/`));
  }

  // ---- dispatch ------------------------------------------------------------------------

  protected override faultBody(status: number, message?: string): unknown {
    const codes: Record<number, [string, string]> = {
      400: ['BadRequest', 'The request is invalid.'],
      404: ['ResourceNotFound', 'The resource was not found.'],
      409: ['Conflict', 'The request conflicts with an operation in progress on the container app.'],
      429: ['TooManyRequests', 'The request was throttled. Retry after the interval in the Retry-After header.'],
      500: ['InternalServerError', 'An internal server error occurred.'],
      502: ['BadGateway', 'The gateway did not receive a response from the resource provider.'],
      503: ['ServiceUnavailable', 'The service is unavailable.'],
    };
    const [code, text] = codes[status] ?? [String(status), `Request failed with status ${status}.`];
    return armError(code, message ?? text);
  }

  protected async handle(req: EmulatorRequest): Promise<EmulatorResponse> {
    const response = await this.serve(req);
    return { ...response, headers: { 'x-ms-request-id': randomUUID(), 'x-ms-correlation-request-id': randomUUID(), ...(response.headers ?? {}) } };
  }

  private async serve(req: EmulatorRequest): Promise<EmulatorResponse> {
    const principal = this.authenticate(req);
    if (!principal) return unauthenticated(req.headers.authorization === undefined);
    const permissionsAt = permissionsScope(req);
    if (permissionsAt) return permissionsResponse(req, permissionsAt, principal, (scope) => this.knows(scope));
    const versionError = this.checkApiVersion(req.query);
    if (versionError) return versionError;
    const target = parseTarget(req);
    if (!target) return json(400, armError('UnsupportedByEmulator', `${req.method} ${req.path} is not emulated.`));
    const action = actionOf(target.operation);
    if (!principal.actions.some((granted) => grants(granted, action))) return forbidden(principal, action, req.path);
    return this.perform(req, target);
  }

  private authenticate(req: EmulatorRequest): Required<ArmPrincipal> | undefined {
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    return match ? this.principals.get(match[1]) : undefined;
  }

  private checkApiVersion(query: URLSearchParams): EmulatorResponse | undefined {
    const version = query.get('api-version');
    if (version === null) return json(400, armError('MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.'));
    if (this.apiVersions.includes(version)) return undefined;
    return json(400, armError('InvalidApiVersionParameter', `The api-version '${version}' is invalid. The supported versions are '${this.apiVersions.join(',')}'.`));
  }

  private async perform(req: EmulatorRequest, target: Target): Promise<EmulatorResponse> {
    const found = this.locate(target);
    if ('status' in found) return found;
    const { app, revision } = found;
    this.sync(app);
    const now = this.clock();
    switch (target.operation) {
      case 'getApp':
        return json(200, appJson(app, now));
      case 'updateApp':
      case 'replaceApp':
        return this.write(req, app, target.operation, now);
      case 'listSecrets':
        return json(200, { value: secretsJson(app.secrets, true) });
      case 'listReplicas':
        return this.listReplicas(app, revision!, now);
      case 'listRevisions':
        return this.listPage(req, app, now);
      case 'getRevision':
        return json(200, revisionJson(app, revision!, now, this.settings));
      case 'restartRevision':
        return this.restart(app, revision!, now);
    }
  }

  private locate(target: Target): { app: AppState; revision?: RevisionState } | EmulatorResponse {
    const { subscriptionId, resourceGroup } = target;
    const all = [...this.apps.values()];
    if (!all.some((a) => same(a.subscriptionId, subscriptionId))) return json(404, armError('SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`));
    if (!all.some((a) => same(a.subscriptionId, subscriptionId) && same(a.resourceGroup, resourceGroup))) {
      return json(404, armError('ResourceGroupNotFound', `Resource group '${resourceGroup}' could not be found.`));
    }
    const app = this.apps.get(appKey(subscriptionId, resourceGroup, target.app));
    if (!app) return resourceNotFound(`Microsoft.App/containerApps/${target.app}`, resourceGroup);
    if (target.revision === undefined) return { app };
    const revision = app.revisions.find((r) => same(r.name, target.revision!));
    if (!revision) return resourceNotFound(`Microsoft.App/containerApps/${target.app}/revisions/${target.revision}`, resourceGroup);
    return { app, revision };
  }

  private listPage(req: EmulatorRequest, app: AppState, now: number): EmulatorResponse {
    if (req.query.has('$filter')) return json(400, armError('UnsupportedByEmulator', '$filter on revisions is not emulated.'));
    const offset = Number(req.query.get('$skiptoken') ?? '0');
    const page = app.revisions.slice(offset, offset + this.pageSize);
    const next = offset + this.pageSize < app.revisions.length ? offset + this.pageSize : undefined;
    const nextLink = next === undefined ? undefined : `${this.url}${req.path}?api-version=${req.query.get('api-version')}&$skiptoken=${next}`;
    return json(200, { value: page.map((r) => revisionJson(app, r, now, this.settings)), ...(nextLink ? { nextLink } : {}) });
  }

  private async restart(app: AppState, revision: RevisionState, now: number): Promise<EmulatorResponse> {
    if (!revision.active) {
      return json(400, armError('BadRequest', `Revision '${revision.name}' of container app '${app.name}' is not active and cannot be restarted.`));
    }
    await this.notify(this.restartNow(app, revision, now, 'client'));
    // ARM answers a revision restart with a plain 200 and no body: it is not a long-running operation.
    return { status: 200 };
  }

  private restartNow(app: AppState, revision: RevisionState, at: number, by: RestartRecord['by']): RestartRecord {
    restartRevision(app, revision, at);
    const ready = readyAt(revision);
    const record: RestartRecord = { subscriptionId: app.subscriptionId, resourceGroup: app.resourceGroup, app: app.name, revision: revision.name, at: new Date(at), readyAt: ready === undefined ? undefined : new Date(ready), by };
    this.restartLog.push(record);
    return record;
  }

  /**
   * PATCH (`ContainerApps_Update`) and PUT (`ContainerApps_CreateOrUpdate`) of an existing app.
   * Only `configuration.secrets` is emulated; it replaces the array as a whole. A secret
   * change creates no revision and restarts nothing (docs: manage-secrets, "Adding,
   * removing, or changing secrets doesn't generate new revisions"). The spec allows 200 for
   * both; the emulator answers 200 with the app, so the SDK's poller ends at once.
   */
  private write(req: EmulatorRequest, app: AppState, operation: 'updateApp' | 'replaceApp', now: number): EmulatorResponse {
    let body: { properties?: { configuration?: Record<string, unknown> } };
    try {
      body = JSON.parse(req.rawBody || 'null') ?? {};
    } catch {
      return json(400, armError('InvalidRequestContent', 'The request content was invalid and could not be deserialized.'));
    }
    const properties = body.properties ?? {};
    const unsupported = ['template', 'managedEnvironmentId', 'environmentId'].filter((k) => (properties as Record<string, unknown>)[k] !== undefined);
    const configuration = properties.configuration ?? {};
    unsupported.push(...Object.keys(configuration).filter((k) => k !== 'secrets' && k !== 'activeRevisionsMode' && configuration[k] !== undefined));
    if (configuration.activeRevisionsMode !== undefined && configuration.activeRevisionsMode !== app.activeRevisionsMode) unsupported.push('activeRevisionsMode');
    if (unsupported.length > 0) return json(400, armError('UnsupportedByEmulator', `Changing ${unsupported.join(', ')} of a container app is not emulated; only configuration.secrets is.`));
    // PATCH leaves an absent property alone; PUT replaces the resource, so absent secrets mean none.
    const input = configuration.secrets ?? (operation === 'replaceApp' ? [] : undefined);
    if (input !== undefined) {
      try {
        const secrets = acceptSecrets(input, this.settings.vaults, app.secrets, now);
        const stillUsed = app.revisions.filter((r) => r.active).flatMap((r) => secretsUsedBy(app, r).filter((name) => !secrets.some((s) => s.name === name)).map((name) => `${name} (revision ${r.name})`));
        // Docs (manage-secrets): deploy a revision that no longer references a secret before deleting it.
        if (stillUsed.length > 0) return json(400, armError('ContainerAppSecretInUse', `Container app secret(s) ${stillUsed.join(', ')} are referenced by an active revision and cannot be removed.`));
        app.secrets = secrets;
      } catch (error) {
        if (error instanceof SecretError) return json(400, armError(error.code, error.message));
        throw error;
      }
    }
    app.lastModifiedAt = now;
    return json(200, appJson(app, now));
  }

  private listReplicas(app: AppState, revision: RevisionState, now: number): EmulatorResponse {
    const view = viewRevision(app, revision, now, this.settings);
    const running = view.runningState !== this.settings.activatingState;
    const replicas = revision.active ? revision.replicaSet : [];
    return json(200, { value: replicas.map((r) => replicaJson(app, revision, r, running)) });
  }

  /**
   * The platform's refresh of versionless Key Vault references, applied lazily for every
   * interval passed since the last one. Revisions that read a refreshed secret in an
   * environment variable restart at the sync; volume-only users keep their value (docs:
   * manage-secrets, "Key Vault secret URI and secret rotation": "Any active revisions that
   * reference the secret in an environment variable are automatically restarted").
   */
  private sync(app: AppState): void {
    const due = Math.floor((this.clock() - app.createdAt) / this.secretSyncMs);
    if (due <= app.syncs) return;
    app.syncs = due;
    const at = app.createdAt + due * this.secretSyncMs;
    const changed = syncReferences(app.secrets, this.settings.vaults, at);
    for (const revision of app.revisions) {
      if (revision.active && changed.some((name) => usesInEnv(revision, name))) this.restartNow(app, revision, at, 'platform');
    }
  }

  private async notify(record: RestartRecord): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener({ ...record });
      } catch (error) {
        this.listenerErrors.push(error);
      }
    }
  }

  private knows(scope: string): boolean {
    const id = scope.toLowerCase();
    return this.resources.has(id) || [...this.apps.values()].some((a) => appKey(a.subscriptionId, a.resourceGroup, a.name) === appScopeKey(id) || `/subscriptions/${a.subscriptionId}/resourcegroups/${a.resourceGroup}`.toLowerCase() === id);
  }

  private appNamed(name: string): AppState {
    const matches = [...this.apps.values()].filter((a) => same(a.name, name));
    if (matches.length !== 1) throw new Error(`${matches.length} container apps are named ${name}`);
    return matches[0];
  }

  private revisionNamed(app: string, revision: string): RevisionState {
    const found = this.appNamed(app).revisions.find((r) => same(r.name, revision));
    if (!found) throw new Error(`container app ${app} has no revision ${revision}`);
    return found;
  }
}

// ---- helpers -------------------------------------------------------------------------------

/** The ARM path the client builds, matched case-insensitively as ARM does. */
function parseTarget(req: EmulatorRequest): Target | undefined {
  const s = decodeSegments(req.path);
  if (!s) return undefined;
  const fixed = (i: number, literal: string) => s[i]?.toLowerCase() === literal.toLowerCase();
  if (!(fixed(0, 'subscriptions') && fixed(2, 'resourceGroups') && fixed(4, 'providers') && fixed(5, 'Microsoft.App') && fixed(6, 'containerApps'))) return undefined;
  const base = { subscriptionId: s[1], resourceGroup: s[3], app: s[7] };
  if (!base.app) return undefined;
  const tail = s.slice(8);
  if (tail.length === 0) {
    const operation = ({ GET: 'getApp', PATCH: 'updateApp', PUT: 'replaceApp' } as const)[req.method as 'GET' | 'PATCH' | 'PUT'];
    return operation ? { ...base, operation } : undefined;
  }
  if (req.method === 'POST' && tail.length === 1 && tail[0].toLowerCase() === 'listsecrets') return { ...base, operation: 'listSecrets' };
  if (tail[0]?.toLowerCase() !== 'revisions') return undefined;
  if (req.method === 'GET' && tail.length === 3 && tail[2].toLowerCase() === 'replicas') return { ...base, revision: tail[1], operation: 'listReplicas' };
  if (req.method === 'GET' && tail.length === 1) return { ...base, operation: 'listRevisions' };
  if (req.method === 'GET' && tail.length === 2) return { ...base, revision: tail[1], operation: 'getRevision' };
  if (req.method === 'POST' && tail.length === 3 && tail[2].toLowerCase() === 'restart') return { ...base, revision: tail[1], operation: 'restartRevision' };
  return undefined;
}

function decodeSegments(path: string): string[] | undefined {
  try {
    return path.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

function actionOf(operation: Operation): string {
  return ACTIONS[operation];
}

function grants(granted: string, action: string): boolean {
  if (granted.endsWith('*')) return action.toLowerCase().startsWith(granted.slice(0, -1).toLowerCase());
  return granted.toLowerCase() === action.toLowerCase();
}

/** `subscription/group/app` of a container app's resource id, for comparison with appKey. */
function appScopeKey(id: string): string | undefined {
  const m = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.app\/containerapps\/([^/]+)$/.exec(id);
  return m ? `${m[1]}/${m[2]}/${m[3]}` : undefined;
}

function deactivate(revision: RevisionState, now: number): void {
  if (!revision.active) return;
  revision.active = false;
  revision.lastActiveTime = now;
}

function appKey(subscriptionId: string, resourceGroup: string, app: string): string {
  return `${subscriptionId}/${resourceGroup}/${app}`.toLowerCase();
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export function armError(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

function resourceNotFound(resource: string, resourceGroup: string): EmulatorResponse {
  return json(404, armError('ResourceNotFound', `The Resource '${resource}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`));
}

function unauthenticated(missing: boolean): EmulatorResponse {
  const description = missing ? "The authentication failed because of missing 'Authorization' header." : 'The access token is invalid.';
  const body = missing ? armError('AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.") : armError('InvalidAuthenticationToken', 'The access token is invalid.');
  const challenge = `Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="${description}"`;
  return json(401, body, { 'www-authenticate': challenge });
}

function forbidden(principal: Required<ArmPrincipal>, action: string, scope: string): EmulatorResponse {
  const id = principal.objectId;
  const message = `The client '${id}' with object id '${id}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`;
  return json(403, armError('AuthorizationFailed', message));
}
