import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { LoopbackEmulator, type EmulatorRequest, type EmulatorResponse } from './loopback-emulator';

/** The version MSAL's App Service source sends; 2017-09-01 used other names and is refused. */
export const APP_SERVICE_MSI_API_VERSION = '2019-08-01';
const TOKEN_PATH = '/msi/token';
const DEFAULT_SCOPE_SUFFIX = '/.default';

export interface ManagedIdentity {
  clientId: string;
  objectId?: string;
  /** ARM id of a user-assigned identity, sent as `mi_res_id`. */
  resourceId?: string;
}

export interface ManagedIdentityEmulatorOptions {
  /** User-assigned identities attached to the app; one random identity by default. */
  userAssigned?: ManagedIdentity[];
  /** The system-assigned identity, used when a request names none; without it such requests fail. */
  systemAssigned?: ManagedIdentity;
  /** The secret the platform puts in IDENTITY_HEADER; random by default. */
  identityHeader?: string;
  tenantId?: string;
  tokenLifetimeSeconds?: number;
  /** Makes tokens reproducible across emulator instances; random by default. */
  signingKey?: string;
}

export interface IssuedToken {
  resource: string;
  clientId: string;
  accessToken: string;
  expiresOn: number;
}

interface ResolvedIdentity {
  clientId: string;
  objectId: string;
  resourceId?: string;
}

/**
 * The App Service / Azure Functions managed identity endpoint (IDENTITY_ENDPOINT): plain HTTP on
 * 127.0.0.1, `GET ?api-version=2019-08-01&resource=...[&client_id=...]` with `X-IDENTITY-HEADER`.
 * Tokens are deterministic per identity and resource, so other emulators can be told to accept
 * `tokenFor(resource)`.
 */
export class ManagedIdentityEmulator extends LoopbackEmulator {
  readonly contract = {
    none: "App Service's managed identity endpoint (IDENTITY_ENDPOINT, api-version 2019-08-01) has no published OpenAPI description; https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference documents it in prose",
  };
  readonly issued: IssuedToken[] = [];
  readonly tenantId: string;
  private secretHeader: string;
  private readonly userAssigned: ResolvedIdentity[];
  private readonly systemAssigned?: ResolvedIdentity;
  private readonly tokenLifetimeSeconds: number;
  private readonly signingKey: string;

  constructor(options: ManagedIdentityEmulatorOptions = {}) {
    super('http');
    this.userAssigned = (options.userAssigned ?? [{ clientId: randomUUID() }]).map(resolveIdentity);
    this.systemAssigned = options.systemAssigned && resolveIdentity(options.systemAssigned);
    this.secretHeader = options.identityHeader ?? randomBytes(16).toString('hex');
    this.tenantId = options.tenantId ?? randomUUID();
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 24 * 3600;
    this.signingKey = options.signingKey ?? randomBytes(32).toString('hex');
  }

  /** The value for IDENTITY_ENDPOINT. */
  get endpoint(): string {
    return `${this.url}${TOKEN_PATH}`;
  }

  /** The value for IDENTITY_HEADER. */
  get identityHeader(): string {
    return this.secretHeader;
  }

  /** The variables the platform sets for the app: put them in process.env before MSAL reads them. */
  get environment(): { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string } {
    return { IDENTITY_ENDPOINT: this.endpoint, IDENTITY_HEADER: this.secretHeader };
  }

  /** The identity `tokenFor` uses by default: the first user-assigned one, else the system one. */
  get clientId(): string {
    return (this.userAssigned[0] ?? this.systemAssigned)?.clientId ?? '';
  }

  /** The platform changes the secret when the app restarts; callers holding the old one are refused. */
  rotateIdentityHeader(next = randomBytes(16).toString('hex')): string {
    this.secretHeader = next;
    return this.secretHeader;
  }

  /** The token this endpoint issues to `clientId` for a resource (a `/.default` scope is accepted too). */
  tokenFor(resourceOrScope: string, clientId = this.clientId): string {
    const identity = this.identities().find((i) => i.clientId === clientId);
    if (!identity) throw new Error(`no managed identity with client id ${clientId}`);
    return this.sign(identity, toResource(resourceOrScope));
  }

  protected handle(req: EmulatorRequest): EmulatorResponse {
    return this.respond(req);
  }

  protected override faultBody(status: number, message = `injected fault ${status}`): unknown {
    return failure(status, message).body;
  }

  private respond(req: EmulatorRequest): EmulatorResponse {
    if (req.path !== TOKEN_PATH) return failure(404, `No route matches ${req.path}.`);
    if (req.method !== 'GET') return failure(405, `Method ${req.method} is not allowed.`);
    const presented = req.headers['x-identity-header'];
    if (typeof presented !== 'string' || !secretEquals(this.secretHeader, presented)) return failure(401, 'Unauthorized request.');
    const version = req.query.get('api-version');
    if (version !== APP_SERVICE_MSI_API_VERSION) return failure(400, `The api-version '${version ?? ''}' is not supported; use ${APP_SERVICE_MSI_API_VERSION}.`);
    const resource = req.query.get('resource') ?? '';
    const resourceProblem = checkResource(resource);
    if (resourceProblem) return failure(400, resourceProblem);
    const identity = this.selectIdentity(req.query);
    if (!identity) return failure(400, 'Unable to load the proper Managed Identity.');
    return { status: 200, body: this.issue(identity, resource) };
  }

  /** App Service takes at most one of the id parameters; none means the system-assigned identity. */
  private selectIdentity(query: URLSearchParams): ResolvedIdentity | undefined {
    const ids = (['client_id', 'object_id', 'principal_id', 'mi_res_id'] as const).filter((name) => query.has(name));
    if (ids.length > 1) return undefined;
    if (ids.length === 0) return this.systemAssigned;
    const value = query.get(ids[0]) ?? '';
    return this.identities().find((i) =>
      ids[0] === 'client_id' ? i.clientId.toLowerCase() === value.toLowerCase()
      : ids[0] === 'mi_res_id' ? i.resourceId?.toLowerCase() === value.toLowerCase()
      : i.objectId.toLowerCase() === value.toLowerCase(),
    );
  }

  /** The 2019-08-01 response: expires_on is a string of Unix seconds. */
  private issue(identity: ResolvedIdentity, resource: string): Record<string, string> {
    const accessToken = this.sign(identity, resource);
    const expiresOn = Math.floor(Date.now() / 1000) + this.tokenLifetimeSeconds;
    this.issued.push({ resource, clientId: identity.clientId, accessToken, expiresOn });
    return { access_token: accessToken, expires_on: String(expiresOn), resource, token_type: 'Bearer', client_id: identity.clientId };
  }

  /** JWT-shaped so code that peeks at claims works; HMAC-signed with this emulator's key. */
  private sign(identity: ResolvedIdentity, resource: string): string {
    const header = base64url({ alg: 'HS256', typ: 'JWT' });
    const claims = base64url({
      aud: resource,
      iss: `https://sts.windows.net/${this.tenantId}/`,
      tid: this.tenantId,
      appid: identity.clientId,
      oid: identity.objectId,
      sub: identity.objectId,
      idtyp: 'app',
    });
    const signature = createHmac('sha256', this.signingKey).update(`${header}.${claims}`).digest('base64url');
    return `${header}.${claims}.${signature}`;
  }

  private identities(): ResolvedIdentity[] {
    return this.systemAssigned ? [...this.userAssigned, this.systemAssigned] : this.userAssigned;
  }
}

function resolveIdentity(identity: ManagedIdentity): ResolvedIdentity {
  return { ...identity, objectId: identity.objectId ?? randomUUID() };
}

function toResource(resourceOrScope: string): string {
  return resourceOrScope.endsWith(DEFAULT_SCOPE_SUFFIX) ? resourceOrScope.slice(0, -DEFAULT_SCOPE_SUFFIX.length) : resourceOrScope;
}

/** A scope where a resource belongs is a client bug Entra refuses, so it is refused here too. */
function checkResource(resource: string): string | undefined {
  if (!resource) return 'The resource parameter is required.';
  if (resource.endsWith(DEFAULT_SCOPE_SUFFIX)) return `'${resource}' is a scope, not a resource.`;
  try {
    new URL(resource);
    return undefined;
  } catch {
    return `'${resource}' is not a valid resource URI.`;
  }
}

/** The endpoint's error shape (Kestrel, seen in the field): `{statusCode, message, correlationId}`. */
function failure(status: number, message: string): EmulatorResponse {
  return { status, body: { statusCode: status, message, correlationId: randomUUID() } };
}

function secretEquals(expected: string, actual: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(actual);
  return a.length === b.length && timingSafeEqual(a, b);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
