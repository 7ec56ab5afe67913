import { createSign } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Octokit } from '@octokit/rest';
import type * as SodiumModule from 'libsodium-wrappers';
import { isTransient, RotationError } from '../errors';
import { holdSecret } from '../held-secrets';

type Sodium = typeof SodiumModule;

/**
 * Required on first use, so a cold start does not load libsodium. An ESM build would hang the
 * functions on `default`; the CommonJS build, which `require` loads, exports them directly.
 */
function sodiumLibrary(): Sodium {
  const loaded = require('libsodium-wrappers') as Sodium & { default?: Sodium };
  return loaded.default ?? loaded;
}

export type GitHubAuth =
  | { kind: 'token'; token: () => Promise<string> }
  | { kind: 'app'; appId: string | number; installationId: string | number; privateKey: () => Promise<string> };

export interface GitHubSecretsOptions {
  /** REST API base URL, e.g. https://api.github.com. */
  apiUrl: string;
  auth: GitHubAuth;
  fetch?: typeof fetch;
  /** Longest total wait for rate limits within one call; beyond it the call fails retryably. Default 60 s. */
  maxWaitMs?: number;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
  /** Milliseconds since the epoch; signs app JWTs and ages the installation token. */
  clock?: () => number;
}

/** `visibility` applies when the rotator creates an organisation secret; an existing one keeps its own. */
export type GitHubSecretScope = { repo: string; environment?: string } | { org: string; visibility?: 'private' | 'all' };

/** Who may read an organisation secret: GitHub requires it on every write, so it is read and sent back. */
interface OrgAccess {
  visibility: 'all' | 'private' | 'selected';
  selected_repository_ids?: number[];
}

/** GitHub's page size limit for the selected-repositories list. */
const REPOS_PER_PAGE = 100;
export type GitHubSecretTarget = GitHubSecretScope & { name: string };

interface InstallationToken {
  token: string;
  refreshAt: number;
}

type PerRequest = { signal: AbortSignal };

interface Call {
  stage: string;
  where: string;
  /** Values that must never appear in an error message: the secret, its ciphertext, the token. */
  hidden: string[];
}

const API_VERSION = '2022-11-28';
const USER_AGENT = 'pg-credential-rotator';
/** GitHub tolerates little clock drift; an `iat` in the past covers ours. */
const JWT_BACKDATE_SECONDS = 60;
/** GitHub refuses app JWTs living longer than ten minutes, counted from `iat`. */
const JWT_LIFETIME_SECONDS = 600;
/** An installation token lives an hour; renewing early keeps a slow push from outliving it. */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;
/** GitHub's advice for a secondary limit that names no retry time. */
const SECONDARY_DEFAULT_WAIT_MS = 60_000;
/** `x-ratelimit-reset` has second precision. */
const RESET_MARGIN_MS = 500;
const noop = () => undefined;
/** Octokit's debug log prints request bodies and headers; this adapter reports every failure itself. */
const SILENT = { debug: noop, info: noop, warn: noop, error: noop };

/** The only module that talks to GitHub: writes Actions secrets as sealed boxes. */
export class GitHubSecrets {
  private readonly octokit: Octokit;
  private readonly maxWaitMs: number;
  private readonly timeoutMs: number;
  private readonly clock: () => number;
  private installation?: InstallationToken;
  private exchanging?: Promise<InstallationToken>;

  constructor(private readonly options: GitHubSecretsOptions) {
    // Required on first use, so a cold start does not load Octokit.
    const { Octokit } = require('@octokit/rest') as typeof import('@octokit/rest');
    this.octokit = new Octokit({ baseUrl: options.apiUrl.replace(/\/+$/, ''), userAgent: USER_AGENT, log: SILENT, request: options.fetch ? { fetch: options.fetch } : {} });
    this.maxWaitMs = options.maxWaitMs ?? 60_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.clock = options.clock ?? Date.now;
  }

  /** Seals the value for the scope's current public key and writes it; a full overwrite each time. */
  async putSecret(stage: string, target: GitHubSecretTarget, value: string): Promise<{ created: boolean }> {
    const call: Call = { stage, where: describeTarget(target), hidden: [value] };
    const token = await this.token(stage);
    call.hidden.push(token);
    holdSecret(token);
    const headers = { authorization: `token ${token}`, 'x-github-api-version': API_VERSION };
    try {
      const { data: key } = await this.send(call, (request) => this.publicKey(target, headers, request));
      const access = 'org' in target ? await this.orgAccess(call, target, headers) : undefined;
      const sealed = await seal(value, key.key);
      call.hidden.push(sealed);
      const response = await this.send(call, (request) => this.write(target, { encrypted_value: sealed, key_id: key.key_id }, access, headers, request));
      return { created: response.status === 201 };
    } catch (error) {
      if (error instanceof RotationError && error.status === 401) this.installation = undefined;
      throw error;
    }
  }

  /** When GitHub last wrote the secret (its `updated_at`), or undefined when it does not exist. Values cannot be read back. */
  async secretUpdatedAt(stage: string, target: GitHubSecretTarget): Promise<Date | undefined> {
    const call: Call = { stage, where: describeTarget(target), hidden: [] };
    const headers = await this.headers(stage, call);
    try {
      const { data } = await this.send(call, (request) => this.readSecret(target, headers, request));
      return new Date(data.updated_at);
    } catch (error) {
      if (error instanceof RotationError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** The id of the scope's public key: proof the configured auth may read what a push needs. */
  async publicKeyId(stage: string, target: GitHubSecretTarget): Promise<string> {
    const call: Call = { stage, where: describeTarget(target), hidden: [] };
    const headers = await this.headers(stage, call);
    const { data } = await this.send(call, (request) => this.publicKey(target, headers, request));
    return data.key_id;
  }

  private async headers(stage: string, call: Call): Promise<Record<string, string>> {
    const token = await this.token(stage);
    call.hidden.push(token);
    return { authorization: `token ${token}`, 'x-github-api-version': API_VERSION };
  }

  private readSecret(target: GitHubSecretTarget, headers: Record<string, string>, request: PerRequest) {
    const common = { secret_name: target.name, headers, request };
    if ('org' in target) return this.octokit.rest.actions.getOrgSecret({ ...common, org: target.org });
    const { owner, repo } = splitRepo(target.repo);
    if (target.environment === undefined) return this.octokit.rest.actions.getRepoSecret({ ...common, owner, repo });
    return this.octokit.rest.actions.getEnvironmentSecret({ ...common, owner, repo, environment_name: target.environment });
  }

  private publicKey(target: GitHubSecretTarget, headers: Record<string, string>, request: PerRequest) {
    if ('org' in target) return this.octokit.rest.actions.getOrgPublicKey({ org: target.org, headers, request });
    const { owner, repo } = splitRepo(target.repo);
    if (target.environment === undefined) return this.octokit.rest.actions.getRepoPublicKey({ owner, repo, headers, request });
    return this.octokit.rest.actions.getEnvironmentPublicKey({ owner, repo, environment_name: target.environment, headers, request });
  }

  /**
   * The visibility the secret has now, and for `selected` its repositories, so the write
   * keeps them (a write without them would widen or narrow who can read the secret). A
   * secret that does not exist yet gets the configured visibility.
   * https://docs.github.com/rest/actions/secrets#get-an-organization-secret
   */
  private async orgAccess(call: Call, target: { org: string; name: string; visibility?: 'private' | 'all' }, headers: Record<string, string>): Promise<OrgAccess> {
    let visibility: OrgAccess['visibility'];
    try {
      ({ visibility } = (await this.send(call, (request) => this.octokit.rest.actions.getOrgSecret({ org: target.org, secret_name: target.name, headers, request }))).data);
    } catch (error) {
      if (error instanceof RotationError && error.status === 404) return { visibility: target.visibility ?? 'private' };
      throw error;
    }
    if (visibility !== 'selected') return { visibility };
    const ids: number[] = [];
    for (let page = 1; ; page += 1) {
      const { data } = await this.send(call, (request) => this.octokit.rest.actions.listSelectedReposForOrgSecret({ org: target.org, secret_name: target.name, per_page: REPOS_PER_PAGE, page, headers, request }));
      ids.push(...data.repositories.map((r) => r.id));
      if (data.repositories.length < REPOS_PER_PAGE || ids.length >= data.total_count) break;
    }
    return { visibility, selected_repository_ids: ids };
  }

  private write(target: GitHubSecretTarget, body: { encrypted_value: string; key_id: string }, access: OrgAccess | undefined, headers: Record<string, string>, request: PerRequest) {
    const common = { ...body, secret_name: target.name, headers, request };
    if ('org' in target) return this.octokit.rest.actions.createOrUpdateOrgSecret({ ...common, org: target.org, ...(access ?? { visibility: 'private' }) });
    const { owner, repo } = splitRepo(target.repo);
    if (target.environment === undefined) return this.octokit.rest.actions.createOrUpdateRepoSecret({ ...common, owner, repo });
    return this.octokit.rest.actions.createOrUpdateEnvironmentSecret({ ...common, owner, repo, environment_name: target.environment });
  }

  /** One request, with rate limits waited out up to the bound. */
  private async send<T>(call: Call, attempt: (request: PerRequest) => Promise<T>): Promise<T> {
    let waited = 0;
    for (;;) {
      try {
        return await attempt({ signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (error) {
        const limit = rateLimitOf(error, this.clock());
        if (!limit) throw classifyGitHubError(call, error);
        if (waited + limit.waitMs > this.maxWaitMs) throw rateLimited(call, limit, this.maxWaitMs);
        await sleep(limit.waitMs);
        waited += limit.waitMs;
      }
    }
  }

  private async token(stage: string): Promise<string> {
    const auth = this.options.auth;
    if (auth.kind === 'token') return readCredential(stage, 'github token', auth.token);
    if (this.installation && this.clock() < this.installation.refreshAt) return this.installation.token;
    // Concurrent pushes share one exchange instead of each minting a token.
    this.exchanging ??= this.exchange(stage, auth).finally(() => (this.exchanging = undefined));
    this.installation = await this.exchanging;
    return this.installation.token;
  }

  private async exchange(stage: string, auth: Extract<GitHubAuth, { kind: 'app' }>): Promise<InstallationToken> {
    const where = `github app ${auth.appId} installation ${auth.installationId}`;
    const privateKey = await readCredential(stage, `${where} private key`, auth.privateKey);
    const jwt = signAppJwt({ stage, where, hidden: [] }, auth.appId, privateKey, this.clock());
    const call: Call = { stage, where, hidden: [jwt] };
    const { data } = await this.send(call, (request) =>
      this.octokit.rest.apps.createInstallationAccessToken({ installation_id: Number(auth.installationId), headers: { authorization: `bearer ${jwt}`, 'x-github-api-version': API_VERSION }, request }),
    );
    return { token: data.token, refreshAt: Date.parse(data.expires_at) - TOKEN_REFRESH_MARGIN_MS };
  }
}

function describeTarget(target: GitHubSecretTarget): string {
  if ('org' in target) return `github org ${target.org} secret ${target.name}`;
  const environment = target.environment === undefined ? '' : ` environment ${target.environment}`;
  return `github repo ${target.repo}${environment} secret ${target.name}`;
}

/** The caller reads these from Key Vault; an error that is not ours may carry anything, so only its name survives. */
async function readCredential(stage: string, what: string, read: () => Promise<string>): Promise<string> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof RotationError) throw error;
    throw new RotationError({ code: 'github-credential-unavailable', stage, message: `reading the ${what} failed (${(error as Error)?.name ?? 'error'})` });
  }
}

function splitRepo(fullName: string): { owner: string; repo: string } {
  const [owner, repo] = fullName.split('/');
  return { owner, repo };
}

/** A libsodium sealed box in standard Base64, which is what GitHub decodes. */
async function seal(value: string, publicKey: string): Promise<string> {
  const sodium = sodiumLibrary();
  await sodium.ready;
  const box = sodium.crypto_box_seal(sodium.from_string(value), sodium.from_base64(publicKey, sodium.base64_variants.ORIGINAL));
  return sodium.to_base64(box, sodium.base64_variants.ORIGINAL);
}

/** RS256 JWT for the app: `iat` backdated, `exp` within GitHub's ten-minute limit. */
function signAppJwt(call: Call, appId: string | number, privateKeyPem: string, nowMs: number): string {
  const iat = Math.floor(nowMs / 1000) - JWT_BACKDATE_SECONDS;
  const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const unsigned = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iat, exp: iat + JWT_LIFETIME_SECONDS, iss: String(appId) })}`;
  try {
    return `${unsigned}.${createSign('RSA-SHA256').update(unsigned).sign(privateKeyPem).toString('base64url')}`;
  } catch {
    throw new RotationError({ code: 'github-app-key-invalid', stage: call.stage, message: `${call.where}: the private key is not a usable RSA key in PEM form` });
  }
}

// ---- errors --------------------------------------------------------------------------

/** What the adapter reads of Octokit's RequestError; the rest (the request, with body and auth) stays behind. */
interface HttpFailure {
  status?: number;
  name?: string;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
  cause?: unknown;
}

interface RateLimit {
  kind: 'primary' | 'secondary';
  status: number;
  waitMs: number;
}

function rateLimitOf(error: unknown, nowMs: number): RateLimit | undefined {
  const { status, response } = error as HttpFailure;
  if ((status !== 403 && status !== 429) || !response?.headers) return undefined;
  const headers = response.headers;
  const retryAfter = retryAfterMs(headers['retry-after'], nowMs);
  if (retryAfter !== undefined) return { kind: 'secondary', status, waitMs: retryAfter };
  const text = serviceMessage(error);
  // A permission 403 can also be the request that spent the last unit; only GitHub's wording tells them apart.
  const spent = String(headers['x-ratelimit-remaining']) === '0' && headers['x-ratelimit-reset'] !== undefined && (status === 429 || /rate limit/i.test(text));
  if (spent) return { kind: 'primary', status, waitMs: Math.max(0, Number(headers['x-ratelimit-reset']) * 1000 - nowMs) + RESET_MARGIN_MS };
  if (/secondary rate limit/i.test(text)) return { kind: 'secondary', status, waitMs: SECONDARY_DEFAULT_WAIT_MS };
  return undefined;
}

/** `retry-after` is seconds or an HTTP date. */
function retryAfterMs(header: string | number | undefined, nowMs: number): number | undefined {
  if (header === undefined) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(String(header));
  return Number.isFinite(date) ? Math.max(0, date - nowMs) : undefined;
}

function rateLimited(call: Call, limit: RateLimit, boundMs: number): RotationError {
  const message = `${call.where}: ${limit.status} ${limit.kind} rate limit, GitHub asks to wait ${duration(limit.waitMs)}, beyond the ${duration(boundMs)} this push may wait`;
  return new RotationError({ code: 'github-rate-limited', stage: call.stage, retryable: true, status: limit.status, message });
}

function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${Math.ceil(ms / 1000)} s`;
}

/** A fresh error from status and GitHub's own message only, with every hidden value cut out. */
function classifyGitHubError(call: Call, error: unknown): RotationError {
  if (error instanceof RotationError) return error;
  const failure = error as HttpFailure;
  if (!failure?.response) return connectionFailure(call, error);
  const status = failure.status;
  const retryable = isTransient(status, undefined);
  const code = status === 401 || status === 403 ? 'github-forbidden' : status === 404 ? 'github-not-found' : status === 422 ? 'github-rejected' : retryable ? 'github-unavailable' : 'github-error';
  const message = `${call.where}: ${status} ${hide(serviceMessage(error), call.hidden)}`;
  return new RotationError({ code, stage: call.stage, retryable, status, message });
}

/** No response at all: a reset, a refused connection, a timeout, a TLS failure. */
function connectionFailure(call: Call, error: unknown): RotationError {
  const root = rootCause(error);
  const timedOut = root.name === 'TimeoutError' || root.name === 'AbortError';
  const retryable = timedOut || isTransient(undefined, root.code);
  const detail = hide(oneLine(root.message ?? 'unknown error'), call.hidden);
  const message = `${call.where}: ${timedOut ? 'timed out' : 'connection failed'}${root.code ? ` (${root.code})` : ''}: ${detail}`;
  return new RotationError({ code: retryable ? 'github-unavailable' : 'github-error', stage: call.stage, retryable, message });
}

/** The innermost error that explains a fetch failure (undici nests the socket error twice). */
function rootCause(error: unknown): { name?: string; code?: string; message?: string } {
  let current = error as { name?: string; code?: unknown; message?: string; cause?: unknown };
  for (let depth = 0; depth < 5 && current?.cause && typeof current.cause === 'object'; depth++) current = current.cause as typeof current;
  return { name: current?.name, code: typeof current?.code === 'string' ? current.code : undefined, message: current?.message };
}

function serviceMessage(error: unknown): string {
  const { response, message } = error as HttpFailure;
  const data = response?.data as { message?: unknown } | string | undefined;
  const text = typeof data === 'object' && typeof data?.message === 'string' ? data.message : typeof data === 'string' && data !== '' ? data : message ?? 'error';
  return oneLine(text);
}

/** GitHub words validation errors over several lines ("Invalid request.\n\nFor 'properties/…"). */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat;
}

function hide(text: string, hidden: readonly string[]): string {
  return hidden.filter((h) => h.length > 0).reduce((out, h) => out.split(h).join('[redacted]'), text);
}
