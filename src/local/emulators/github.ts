import { randomBytes, randomInt } from 'node:crypto';
import * as sodiumModule from 'libsodium-wrappers';
import { LoopbackEmulator, json, type EmulatorRequest, type EmulatorResponse, type Fault } from './loopback-emulator';
import {
  githubTime,
  issueInstallationToken,
  principalFromGrant,
  verifyAppJwt,
  type GitHubAppConfig,
  type GitHubTokenGrant,
  type PermissionTarget,
  type Principal,
  type SecretsAccess,
} from './github-auth';

export type { GitHubAppConfig, GitHubAppInstallation, GitHubTokenGrant, SecretsAccess } from './github-auth';

type Sodium = typeof sodiumModule;
/** The ESM build (what vitest loads) hangs the functions on `default`; the CommonJS build exports them directly. */
const sodium: Sodium = (sodiumModule as unknown as { default?: Sodium }).default ?? sodiumModule;

export type SecretScope = { repo: string; environment?: string } | { org: string };
export type SecretRef = SecretScope & { name: string };
export type OrgSecretVisibility = 'all' | 'private' | 'selected';

/** What the emulator learned from a PUT: the opened plaintext and GitHub's metadata. */
export interface StoredSecret {
  name: string;
  value: string;
  keyId: string;
  createdAt: Date;
  updatedAt: Date;
  writes: number;
  visibility?: OrgSecretVisibility;
  selectedRepositoryIds?: number[];
}

export interface GitHubEmulatorOptions {
  tokens?: GitHubTokenGrant[];
  apps?: GitHubAppConfig[];
  repos?: Array<string | { fullName: string; environments?: string[] }>;
  orgs?: string[];
  /** Milliseconds since the epoch; drives token expiry, rate-limit windows and timestamps. */
  clock?: () => number;
  /** GitHub issues installation tokens for one hour. */
  installationTokenLifetimeMs?: number;
  /** Requests per hour per token; GitHub's default for installations is 5000. */
  rateLimit?: number;
  /** Values accepted in `X-GitHub-Api-Version` (Octokit sends none, which GitHub accepts). */
  apiVersions?: string[];
}

export interface PublicKey {
  key_id: string;
  key: string;
}

const DOCS = 'https://docs.github.com/rest';
const SECRETS_DOCS = `${DOCS}/actions/secrets`;
const SECONDARY_LIMIT_MESSAGE =
  'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.';
/** GitHub's cap on one secret's value. */
const MAX_SECRET_BYTES = 48 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface ScopeKeys {
  keyId: string;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

interface ScopeState {
  target: PermissionTarget;
  keys?: ScopeKeys;
  secrets: Map<string, StoredSecret>;
}

interface RepoState {
  id: number;
  fullName: string;
  scope: ScopeState;
  environments: Map<string, ScopeState>;
}

interface OrgState {
  id: number;
  login: string;
  scope: ScopeState;
}

type Params = Record<string, string>;
type RouteKind = 'public-key' | 'put-secret' | 'get-secret' | 'selected-repos' | 'installation-token';

interface Route {
  method: string;
  segments: string[];
  kind: RouteKind;
  doc: string;
}

interface SecretCall {
  req: EmulatorRequest;
  params: Params;
  doc: string;
  scope: ScopeState;
}

const ROUTES: Route[] = [
  route('GET', 'repos/:owner/:repo/actions/secrets/public-key', 'public-key', `${SECRETS_DOCS}#get-a-repository-public-key`),
  route('GET', 'repos/:owner/:repo/actions/secrets/:name', 'get-secret', `${SECRETS_DOCS}#get-a-repository-secret`),
  route('PUT', 'repos/:owner/:repo/actions/secrets/:name', 'put-secret', `${SECRETS_DOCS}#create-or-update-a-repository-secret`),
  route('GET', 'repos/:owner/:repo/environments/:env/secrets/public-key', 'public-key', `${SECRETS_DOCS}#get-an-environment-public-key`),
  route('GET', 'repos/:owner/:repo/environments/:env/secrets/:name', 'get-secret', `${SECRETS_DOCS}#get-an-environment-secret`),
  route('PUT', 'repos/:owner/:repo/environments/:env/secrets/:name', 'put-secret', `${SECRETS_DOCS}#create-or-update-an-environment-secret`),
  route('GET', 'orgs/:org/actions/secrets/public-key', 'public-key', `${SECRETS_DOCS}#get-an-organization-public-key`),
  route('GET', 'orgs/:org/actions/secrets/:name', 'get-secret', `${SECRETS_DOCS}#get-an-organization-secret`),
  route('PUT', 'orgs/:org/actions/secrets/:name', 'put-secret', `${SECRETS_DOCS}#create-or-update-an-organization-secret`),
  route('GET', 'orgs/:org/actions/secrets/:name/repositories', 'selected-repos', `${SECRETS_DOCS}#list-selected-repositories-for-an-organization-secret`),
  route('POST', 'app/installations/:installation_id/access_tokens', 'installation-token', `${DOCS}/apps/apps#create-an-installation-access-token-for-an-app`),
];

/**
 * GitHub's REST API for Actions secrets, strict about auth, permissions, key ids, sealed
 * boxes and secret names. It keeps each scope's private key so a test can read back the
 * exact plaintext a client pushed.
 */
export class GitHubEmulator extends LoopbackEmulator {
  readonly contract = { specs: ['github.json'] };
  private readonly repos = new Map<string, RepoState>();
  private readonly orgs = new Map<string, OrgState>();
  private readonly principals = new Map<string, Principal>();
  private readonly apps: GitHubAppConfig[];
  private readonly clock: () => number;
  private readonly rates: RateBuckets;
  private readonly apiVersions: Set<string>;
  private readonly tokenLifetimeMs: number;
  private nextId = 1000;

  constructor(options: GitHubEmulatorOptions = {}) {
    super();
    this.clock = options.clock ?? Date.now;
    this.apps = [...(options.apps ?? [])];
    this.rates = new RateBuckets(options.rateLimit ?? 5000, this.clock);
    this.apiVersions = new Set(options.apiVersions ?? ['2022-11-28']);
    this.tokenLifetimeMs = options.installationTokenLifetimeMs ?? 3600_000;
    for (const grant of options.tokens ?? []) this.addToken(grant);
    for (const repo of options.repos ?? []) typeof repo === 'string' ? this.addRepo(repo) : this.addRepo(repo.fullName, repo.environments);
    for (const org of options.orgs ?? []) this.addOrg(org);
  }

  override async start(): Promise<this> {
    await sodium.ready;
    return super.start();
  }

  // ---- configuration -------------------------------------------------------------------

  addRepo(fullName: string, environments: string[] = []): number {
    const key = fullName.toLowerCase();
    if (!/^[^/\s]+\/[^/\s]+$/.test(fullName)) throw new Error(`repository must be "owner/name": ${fullName}`);
    const existing = this.repos.get(key);
    const repo = existing ?? { id: this.nextId++, fullName, scope: newScope({ kind: 'repo', fullName }), environments: new Map() };
    this.repos.set(key, repo);
    for (const env of environments) this.addEnvironment(fullName, env);
    return repo.id;
  }

  addEnvironment(repo: string, environment: string): void {
    const state = this.repoState(repo);
    const key = environment.toLowerCase();
    if (!state.environments.has(key)) state.environments.set(key, newScope({ kind: 'repo', fullName: state.fullName }));
  }

  addOrg(login: string): number {
    const key = login.toLowerCase();
    const org = this.orgs.get(key) ?? { id: this.nextId++, login, scope: newScope({ kind: 'org', org: login }) };
    this.orgs.set(key, org);
    return org.id;
  }

  addToken(grant: GitHubTokenGrant): void {
    this.principals.set(grant.token, principalFromGrant(grant, this.nextId++));
  }

  addApp(app: GitHubAppConfig): void {
    this.apps.push(app);
  }

  /** Limits one token's budget from now on; GitHub answers 403 once `remaining` is spent. */
  setRateLimit(token: string, limit: { remaining: number; resetInSeconds?: number; limit?: number }): void {
    this.rates.set(token, limit);
  }

  /** GitHub's secondary (abuse) limit: 403 or 429 with `retry-after`, for the next matching requests. */
  secondaryRateLimit(options: { status?: 403 | 429; retryAfterSeconds?: number; times?: number; match?: Fault['match'] } = {}): void {
    const status = options.status ?? 403;
    this.inject({ status, retryAfterSeconds: options.retryAfterSeconds ?? 60, times: options.times, match: options.match, body: githubError(status, SECONDARY_LIMIT_MESSAGE, `${DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits`) });
  }

  // ---- inspection ----------------------------------------------------------------------

  async publicKey(scope: SecretScope): Promise<PublicKey> {
    return publicKeyBody(await this.keysOf(this.scopeOf(scope)));
  }

  /** A new key pair for the scope; values sealed for the previous key are then refused. */
  async rotatePublicKey(scope: SecretScope): Promise<PublicKey> {
    const state = this.scopeOf(scope);
    state.keys = undefined;
    return publicKeyBody(await this.keysOf(state));
  }

  secret(ref: SecretRef): StoredSecret | undefined {
    const found = this.scopeOf(ref).secrets.get(ref.name.toUpperCase());
    return found && { ...found, selectedRepositoryIds: found.selectedRepositoryIds && [...found.selectedRepositoryIds] };
  }

  secretValue(ref: SecretRef): string | undefined {
    return this.secret(ref)?.value;
  }

  /** Tokens this emulator accepts right now, including issued installation tokens. */
  knownTokens(): string[] {
    return [...this.principals.keys()];
  }

  // ---- dispatch ------------------------------------------------------------------------

  protected override faultBody(status: number, message?: string): unknown {
    const defaults: Record<number, string> = { 403: SECONDARY_LIMIT_MESSAGE, 429: SECONDARY_LIMIT_MESSAGE, 500: 'Server Error', 502: 'Server Error', 503: 'Service Unavailable' };
    return githubError(status, message ?? defaults[status] ?? 'Server Error', DOCS);
  }

  protected async handle(req: EmulatorRequest): Promise<EmulatorResponse> {
    const response = await this.answer(req);
    return { ...response, headers: { 'x-github-request-id': requestId(), ...(response.headers ?? {}) } };
  }

  private async answer(req: EmulatorRequest): Promise<EmulatorResponse> {
    const match = findRoute(req);
    if (!match) return notFound(DOCS);
    const refused = this.checkClientHeaders(req);
    if (refused) return refused;
    if (match.route.kind === 'installation-token') return this.createInstallationToken(req, match.params, match.route.doc);
    const principal = this.authenticate(req);
    if (!principal) return unauthorized(req.headers.authorization === undefined ? 'Requires authentication' : 'Bad credentials');
    const rate = this.rates.consume(principal);
    const response = rate.exceeded
      ? json(403, githubError(403, `API rate limit exceeded for ${principal.label}.`, `${DOCS}/overview/rate-limits-for-the-rest-api`))
      : await this.secretsCall(req, match.route, match.params, principal);
    return { ...response, headers: { ...rate.headers, ...(response.headers ?? {}) } };
  }

  private checkClientHeaders(req: EmulatorRequest): EmulatorResponse | undefined {
    if (!req.headers['user-agent']) {
      return { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header.\n' };
    }
    const version = req.headers['x-github-api-version'];
    if (typeof version === 'string' && !this.apiVersions.has(version)) {
      return json(400, githubError(400, `API version '${version}' is not supported.`, `${DOCS}/about-the-rest-api/api-versions`));
    }
    return undefined;
  }

  private authenticate(req: EmulatorRequest): Principal | undefined {
    const token = credentialOf(req);
    const principal = token === undefined ? undefined : this.principals.get(token);
    if (!principal) return undefined;
    if (principal.expiresAt !== undefined && principal.expiresAt <= this.clock()) return undefined;
    return principal;
  }

  private async secretsCall(req: EmulatorRequest, route: Route, params: Params, principal: Principal): Promise<EmulatorResponse> {
    const owner = this.ownerScope(params);
    if (!owner) return notFound(route.doc);
    const need: SecretsAccess = req.method === 'GET' ? 'read' : 'write';
    if (!allows(principal.access(owner.target), need)) return json(403, githubError(403, 'Resource not accessible by integration', route.doc));
    const scope = params.env === undefined ? owner : this.repoState(params.owner + '/' + params.repo).environments.get(params.env.toLowerCase());
    if (!scope) return notFound(route.doc);
    const call: SecretCall = { req, params, doc: route.doc, scope };
    if (route.kind === 'public-key') return json(200, publicKeyBody(await this.keysOf(scope)));
    if (route.kind === 'get-secret') return this.getSecret(call);
    if (route.kind === 'selected-repos') return this.selectedRepos(call);
    return this.putSecret(call);
  }

  /** The repository or organization that owns the addressed scope. */
  private ownerScope(params: Params): ScopeState | undefined {
    if (params.org !== undefined) return this.orgs.get(params.org.toLowerCase())?.scope;
    return this.repos.get(`${params.owner}/${params.repo}`.toLowerCase())?.scope;
  }

  private getSecret(call: SecretCall): EmulatorResponse {
    const secret = call.scope.secrets.get(call.params.name.toUpperCase());
    if (!secret) return notFound(call.doc);
    const body: Record<string, unknown> = { name: secret.name, created_at: githubTime(secret.createdAt.getTime()), updated_at: githubTime(secret.updatedAt.getTime()) };
    if (secret.visibility) body.visibility = secret.visibility;
    // GitHub links the repository list of a `selected` secret instead of inlining it.
    if (secret.visibility === 'selected') body.selected_repositories_url = `${this.url}/orgs/${call.params.org}/actions/secrets/${secret.name}/repositories`;
    return json(200, body);
  }

  /**
   * `GET /orgs/{org}/actions/secrets/{name}/repositories`: the repositories a `selected`
   * secret is shared with, paged by `per_page` (at most 100, default 30) and `page`. The
   * docs define the list only for `selected` secrets; for any other visibility the emulator
   * answers 409 rather than guess what GitHub lists.
   */
  private selectedRepos(call: SecretCall): EmulatorResponse {
    const secret = call.scope.secrets.get(call.params.name.toUpperCase());
    if (!secret) return notFound(call.doc);
    if (secret.visibility !== 'selected') return json(409, githubError(409, `Secret ${secret.name} has visibility ${secret.visibility}; only a selected secret lists repositories.`, call.doc));
    const perPage = Math.min(100, Math.max(1, Number(call.req.query.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(call.req.query.get('page') ?? 1) || 1);
    const repos = (secret.selectedRepositoryIds ?? []).map((id) => [...this.repos.values()].find((r) => r.id === id)).filter((r): r is RepoState => r !== undefined);
    const slice = repos.slice((page - 1) * perPage, page * perPage).map((r) => minimalRepository(this.url, r));
    return json(200, { total_count: repos.length, repositories: slice });
  }

  private async putSecret(call: SecretCall): Promise<EmulatorResponse> {
    const nameError = secretNameError(call.params.name);
    if (nameError) return json(422, githubError(422, nameError, call.doc));
    const body = parseJsonObject(call.req.rawBody);
    if (!body) return json(400, githubError(400, 'Problems parsing JSON', call.doc));
    const isOrg = call.params.org !== undefined;
    const orgFields = isOrg ? orgSecretFields(body) : {};
    if (typeof orgFields === 'string') return invalid(orgFields, call.doc);
    const foreign = (orgFields.selectedRepositoryIds ?? []).filter((id) => !this.isOrgRepo(call.params.org, id));
    if (foreign.length > 0) return invalid(`Repository ids ${foreign.join(', ')} are not repositories of ${call.params.org}.`, call.doc);
    const existing = call.scope.secrets.get(call.params.name.toUpperCase());
    // An organization secret's visibility can change without a new value; nothing else can.
    const valueRequired = !isOrg || existing === undefined || body.encrypted_value !== undefined || body.key_id !== undefined;
    const opened = valueRequired ? await this.openValue(call.scope, body) : undefined;
    if (typeof opened === 'string') return invalid(opened, call.doc);
    this.store(call.scope, call.params.name, opened, orgFields);
    return existing ? { status: 204 } : json(201, {});
  }

  /** The plaintext of `encrypted_value`, or why GitHub refuses the body. */
  private async openValue(scope: ScopeState, body: Record<string, unknown>): Promise<{ value: string; keyId: string } | string> {
    const missing = ['encrypted_value', 'key_id'].filter((field) => body[field] === undefined);
    if (missing.length > 0) return schemaError(`${missing.map((f) => `"${f}"`).join(', ')} ${missing.length > 1 ? "weren't" : "wasn't"} supplied.`);
    const { encrypted_value: sealed, key_id: keyId } = body;
    if (typeof sealed !== 'string' || typeof keyId !== 'string') return schemaError('"encrypted_value" and "key_id" must be strings.');
    const keys = await this.keysOf(scope);
    if (keyId !== keys.keyId) return `key_id ${JSON.stringify(keyId)} is not the current public key of this scope.`;
    if (!BASE64.test(sealed)) return schemaError("For 'properties/encrypted_value', the value is not valid Base64.");
    const plaintext = openSealedBox(sealed, keys);
    if (plaintext === undefined) return 'encrypted_value could not be decrypted with the key identified by key_id.';
    if (plaintext.length > MAX_SECRET_BYTES) return `Secret values are limited to ${MAX_SECRET_BYTES} bytes.`;
    return { value: plaintext.toString('utf8'), keyId };
  }

  private store(scope: ScopeState, name: string, opened: { value: string; keyId: string } | undefined, orgFields: OrgFields): void {
    const upper = name.toUpperCase();
    const now = new Date(this.clock());
    const previous = scope.secrets.get(upper);
    const base: StoredSecret = previous ?? { name: upper, value: '', keyId: '', createdAt: now, updatedAt: now, writes: 0 };
    scope.secrets.set(upper, { ...base, ...(opened ?? {}), ...orgFields, updatedAt: now, writes: base.writes + 1 });
  }

  private createInstallationToken(req: EmulatorRequest, params: Params, doc: string): EmulatorResponse {
    const jwt = credentialOf(req);
    if (jwt === undefined) return unauthorized('A JSON web token could not be decoded', doc);
    const check = verifyAppJwt(jwt, this.apps, this.clock());
    if (!check.ok) return unauthorized(check.message, doc);
    const installation = check.app.installations.find((i) => String(i.id) === params.installation_id);
    if (!installation) return notFound(doc);
    const body = req.rawBody === '' ? {} : parseJsonObject(req.rawBody);
    if (!body) return json(400, githubError(400, 'Problems parsing JSON', doc));
    const directory = { exists: (name: string) => this.repos.has(name), fullNameOf: (id: number) => [...this.repos.values()].find((r) => r.id === id)?.fullName };
    const result = issueInstallationToken(installation, body, this.clock() + this.tokenLifetimeMs, directory);
    if (!result.ok) return json(422, githubError(422, result.message, doc));
    this.principals.set(result.issued.principal.token, result.issued.principal);
    return json(201, result.issued.body);
  }

  // ---- state helpers -------------------------------------------------------------------

  private isOrgRepo(org: string, id: number): boolean {
    return [...this.repos.values()].some((r) => r.id === id && r.fullName.split('/')[0].toLowerCase() === org.toLowerCase());
  }

  private repoState(fullName: string): RepoState {
    const repo = this.repos.get(fullName.toLowerCase());
    if (!repo) throw new Error(`unknown repository ${fullName}`);
    return repo;
  }

  private scopeOf(scope: SecretScope): ScopeState {
    if ('org' in scope) {
      const org = this.orgs.get(scope.org.toLowerCase());
      if (!org) throw new Error(`unknown organization ${scope.org}`);
      return org.scope;
    }
    const repo = this.repoState(scope.repo);
    if (scope.environment === undefined) return repo.scope;
    const env = repo.environments.get(scope.environment.toLowerCase());
    if (!env) throw new Error(`unknown environment ${scope.environment} in ${scope.repo}`);
    return env;
  }

  private async keysOf(scope: ScopeState): Promise<ScopeKeys> {
    await sodium.ready;
    scope.keys ??= newKeys();
    return scope.keys;
  }
}

// ---- rate limits -----------------------------------------------------------------------

interface Bucket {
  limit: number;
  used: number;
  resetAt: number;
}

/** GitHub's primary limit: a per-token budget that refills at `x-ratelimit-reset`. */
class RateBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly defaultLimit: number, private readonly clock: () => number) {}

  set(token: string, limit: { remaining: number; resetInSeconds?: number; limit?: number }): void {
    const max = limit.limit ?? this.defaultLimit;
    this.buckets.set(token, { limit: max, used: max - limit.remaining, resetAt: this.clock() + (limit.resetInSeconds ?? 3600) * 1000 });
  }

  consume(principal: Principal): { exceeded: boolean; headers: Record<string, string> } {
    const bucket = this.current(principal.token);
    const exceeded = bucket.used >= bucket.limit;
    if (!exceeded) bucket.used += 1;
    const headers = {
      'x-ratelimit-limit': String(bucket.limit),
      'x-ratelimit-remaining': String(Math.max(0, bucket.limit - bucket.used)),
      'x-ratelimit-reset': String(Math.ceil(bucket.resetAt / 1000)),
      'x-ratelimit-used': String(bucket.used),
      'x-ratelimit-resource': 'core',
    };
    return { exceeded, headers };
  }

  private current(token: string): Bucket {
    const now = this.clock();
    let bucket = this.buckets.get(token);
    if (!bucket || bucket.resetAt <= now) {
      bucket = { limit: bucket?.limit ?? this.defaultLimit, used: 0, resetAt: now + 3600_000 };
      this.buckets.set(token, bucket);
    }
    return bucket;
  }
}

// ---- pure helpers ----------------------------------------------------------------------

type OrgFields = { visibility?: OrgSecretVisibility; selectedRepositoryIds?: number[] };

function orgSecretFields(body: Record<string, unknown>): OrgFields | string {
  const { visibility, selected_repository_ids: ids } = body;
  if (visibility === undefined) return schemaError('"visibility" wasn\'t supplied.');
  if (visibility !== 'all' && visibility !== 'private' && visibility !== 'selected') {
    return schemaError(`For 'properties/visibility', ${JSON.stringify(visibility)} is not one of ["all", "private", "selected"].`);
  }
  // Visibility is replaced on every write: a secret that is no longer `selected` keeps no
  // repository list. GitHub's docs do not say whether `selected` without ids keeps the old
  // list; the emulator takes the stricter reading and empties it, so a client must send it.
  if (ids === undefined) return { visibility, selectedRepositoryIds: visibility === 'selected' ? [] : undefined };
  if (visibility !== 'selected') return schemaError("selected_repository_ids can only be set when visibility is 'selected'.");
  if (!Array.isArray(ids) || ids.some((id) => !Number.isInteger(Number(id)))) return schemaError("For 'properties/selected_repository_ids', the value must be an array of repository ids.");
  return { visibility, selectedRepositoryIds: ids.map(Number) };
}

/** GitHub's rules: letters, digits, underscores; no leading digit; no GITHUB_ prefix. */
export function secretNameError(name: string): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    return 'Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_). Spaces are not allowed. Must start with a letter ([a-z], [A-Z]) or underscores (_).';
  }
  if (/^GITHUB_/i.test(name)) return 'Secret names must not start with GITHUB_.';
  return undefined;
}

function openSealedBox(sealed: string, keys: ScopeKeys): Buffer | undefined {
  try {
    const box = sodium.from_base64(sealed, sodium.base64_variants.ORIGINAL);
    return Buffer.from(sodium.crypto_box_seal_open(box, keys.publicKey, keys.privateKey));
  } catch {
    return undefined;
  }
}

function newKeys(): ScopeKeys {
  const pair = sodium.crypto_box_keypair();
  // GitHub key ids are long decimal strings.
  const keyId = `${randomInt(100_000_000_000, 999_999_999_999)}${randomInt(100_000, 999_999)}`;
  return { keyId, publicKey: pair.publicKey, privateKey: pair.privateKey };
}

function publicKeyBody(keys: ScopeKeys): PublicKey {
  return { key_id: keys.keyId, key: sodium.to_base64(keys.publicKey, sodium.base64_variants.ORIGINAL) };
}

/** GitHub's request ids look like `C0F1:2A3B:4C5D6E:7F8091:65A1B2C3`. */
function requestId(): string {
  const hex = (bytes: number) => randomBytes(bytes).toString('hex').toUpperCase();
  return [hex(2), hex(2), hex(3), hex(3), hex(4)].join(':');
}

function newScope(target: PermissionTarget): ScopeState {
  return { target, secrets: new Map() };
}

function allows(granted: SecretsAccess | undefined, need: SecretsAccess): boolean {
  return granted === 'write' || (granted === 'read' && need === 'read');
}

/** Octokit sends `token X` for plain tokens and `bearer X` for JWTs; GitHub accepts either scheme. */
function credentialOf(req: EmulatorRequest): string | undefined {
  const header = req.headers.authorization;
  const match = typeof header === 'string' ? /^(?:token|bearer)\s+(\S+)$/i.exec(header.trim()) : null;
  return match?.[1];
}

function route(method: string, pattern: string, kind: RouteKind, doc: string): Route {
  return { method, segments: pattern.split('/'), kind, doc };
}

function findRoute(req: EmulatorRequest): { route: Route; params: Params } | undefined {
  const segments = decodeSegments(req.path);
  if (!segments) return undefined;
  for (const candidate of ROUTES) {
    if (candidate.method !== req.method) continue;
    const params = matchSegments(candidate.segments, segments);
    if (params) return { route: candidate, params };
  }
  return undefined;
}

function matchSegments(pattern: string[], segments: string[]): Params | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i].startsWith(':')) params[pattern[i].slice(1)] = segments[i];
    else if (pattern[i] !== segments[i]) return undefined;
  }
  return params;
}

function decodeSegments(path: string): string[] | undefined {
  try {
    return path.replace(/^\/+|\/+$/g, '').split('/').map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

function parseJsonObject(raw: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** GitHub's error body; `status` is a string in GitHub's own responses. */
export function githubError(status: number, message: string, documentationUrl = DOCS): { message: string; documentation_url: string; status: string } {
  return { message, documentation_url: documentationUrl, status: String(status) };
}

function notFound(doc: string): EmulatorResponse {
  return json(404, githubError(404, 'Not Found', doc));
}

function unauthorized(message: string, doc = DOCS): EmulatorResponse {
  return json(401, githubError(401, message, doc));
}

function invalid(message: string, doc: string): EmulatorResponse {
  return json(422, githubError(422, message, doc));
}

/** How GitHub words a request body that fails its JSON schema. */
function schemaError(detail: string): string {
  return `Invalid request.\n\n${detail}`;
}

/**
 * A repository as GitHub lists it in a secret's selected repositories: the `minimal-repository`
 * shape, every field the REST description requires, URLs on the emulator's own base
 * (https://docs.github.com/en/rest/actions/secrets#list-selected-repositories-for-an-organization-secret).
 */
function minimalRepository(base: string, repo: RepoState): Record<string, unknown> {
  const [login, name] = repo.fullName.split('/');
  const api = `${base}/repos/${repo.fullName}`;
  const urls = Object.fromEntries(
    [
      ['archive', '/{archive_format}{/ref}'], ['assignees', '/assignees{/user}'], ['blobs', '/git/blobs{/sha}'], ['branches', '/branches{/branch}'],
      ['collaborators', '/collaborators{/collaborator}'], ['comments', '/comments{/number}'], ['commits', '/commits{/sha}'], ['compare', '/compare/{base}...{head}'],
      ['contents', '/contents/{+path}'], ['contributors', '/contributors'], ['deployments', '/deployments'], ['downloads', '/downloads'], ['events', '/events'],
      ['forks', '/forks'], ['git_commits', '/git/commits{/sha}'], ['git_refs', '/git/refs{/sha}'], ['git_tags', '/git/tags{/sha}'], ['hooks', '/hooks'],
      ['issue_comment', '/issues/comments{/number}'], ['issue_events', '/issues/events{/number}'], ['issues', '/issues{/number}'], ['keys', '/keys{/key_id}'],
      ['labels', '/labels{/name}'], ['languages', '/languages'], ['merges', '/merges'], ['milestones', '/milestones{/number}'],
      ['notifications', '/notifications{?since,all,participating}'], ['pulls', '/pulls{/number}'], ['releases', '/releases{/id}'], ['stargazers', '/stargazers'],
      ['statuses', '/statuses/{sha}'], ['subscribers', '/subscribers'], ['subscription', '/subscription'], ['tags', '/tags'], ['teams', '/teams'], ['trees', '/git/trees{/sha}'],
    ].map(([key, path]) => [`${key}_url`, `${api}${path}`]),
  );
  const owner = {
    login, id: repo.id, node_id: `O_${repo.id}`, avatar_url: `${base}/avatars/${login}`, gravatar_id: null, url: `${base}/users/${login}`, html_url: `https://github.com/${login}`,
    followers_url: `${base}/users/${login}/followers`, following_url: `${base}/users/${login}/following{/other_user}`, gists_url: `${base}/users/${login}/gists{/gist_id}`,
    starred_url: `${base}/users/${login}/starred{/owner}{/repo}`, subscriptions_url: `${base}/users/${login}/subscriptions`, organizations_url: `${base}/users/${login}/orgs`,
    repos_url: `${base}/users/${login}/repos`, events_url: `${base}/users/${login}/events{/privacy}`, received_events_url: `${base}/users/${login}/received_events`,
    type: 'Organization', site_admin: false,
  };
  return { id: repo.id, node_id: `R_${repo.id}`, name, full_name: repo.fullName, owner, private: true, html_url: `https://github.com/${repo.fullName}`, description: null, fork: false, url: api, ...urls };
}
