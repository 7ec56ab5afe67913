// Sources: GitHub App JWTs (RS256, iat/exp at most 10 minutes, iss = app id;
// https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app),
// installation access tokens (https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app),
// fine-grained token permission "Secrets" read/write (https://docs.github.com/en/rest/authentication/permissions-required-for-fine-grained-personal-access-tokens).
import { createPublicKey, createVerify, randomBytes, type KeyObject } from 'node:crypto';

/** What a token may do with Actions secrets; `write` implies `read`. */
export type SecretsAccess = 'read' | 'write';

/** A token configured up front (a PAT or a pre-issued installation token). */
export interface GitHubTokenGrant {
  token: string;
  /** `owner/repo` full names whose repository and environment secrets the token may use. */
  repos?: string[];
  /** Organizations whose organization secrets the token may use. */
  orgs?: string[];
  /** Default `write`. */
  access?: SecretsAccess;
  expiresAt?: Date;
}

export interface GitHubAppInstallation {
  id: number;
  /** The user or organization the app is installed on. */
  account: string;
  /** `owner/repo` full names; absent means every repository of the account ("all"). */
  repositories?: string[];
  /** GitHub App permissions, e.g. `{ secrets: 'write', organization_secrets: 'write', metadata: 'read' }`. */
  permissions: Record<string, SecretsAccess>;
}

export interface GitHubAppConfig {
  appId: number;
  /** Newer apps may sign with the client ID as `iss`. */
  clientId?: string;
  /** PEM of the app's RSA public key; the test keeps the private key and signs JWTs with it. */
  publicKey: string;
  installations: GitHubAppInstallation[];
}

export type PermissionTarget = { kind: 'repo'; fullName: string } | { kind: 'org'; org: string };

/** An authenticated caller as the emulator sees it. */
export interface Principal {
  token: string;
  /** How GitHub names the caller in rate-limit messages: `installation ID 7`, `user ID 1`. */
  label: string;
  expiresAt?: number;
  access(target: PermissionTarget): SecretsAccess | undefined;
}

export function principalFromGrant(grant: GitHubTokenGrant, userId: number): Principal {
  const repos = lowerSet(grant.repos);
  const orgs = lowerSet(grant.orgs);
  const level = grant.access ?? 'write';
  return {
    token: grant.token,
    label: `user ID ${userId}`,
    expiresAt: grant.expiresAt?.getTime(),
    access: (target) => (target.kind === 'repo' ? repos.has(target.fullName.toLowerCase()) : orgs.has(target.org.toLowerCase())) ? level : undefined,
  };
}

export function lowerSet(values: readonly string[] | undefined): Set<string> {
  return new Set((values ?? []).map((v) => v.toLowerCase()));
}

// ---- App JWT ---------------------------------------------------------------------------

/** GitHub refuses app JWTs that live longer than ten minutes. */
const MAX_JWT_LIFETIME_SECONDS = 600;
/** GitHub tolerates a little clock drift on `iat`. */
const IAT_SKEW_SECONDS = 60;

export type JwtCheck = { ok: true; app: GitHubAppConfig } | { ok: false; message: string };

const UNDECODABLE = 'A JSON web token could not be decoded';

export function verifyAppJwt(jwt: string, apps: readonly GitHubAppConfig[], nowMs: number): JwtCheck {
  const parts = jwt.split('.');
  if (parts.length !== 3) return { ok: false, message: UNDECODABLE };
  const header = decodeJson(parts[0]);
  const claims = decodeJson(parts[1]);
  if (!header || !claims || header.alg !== 'RS256') return { ok: false, message: UNDECODABLE };
  const app = apps.find((a) => String(claims.iss) === String(a.appId) || (a.clientId !== undefined && claims.iss === a.clientId));
  if (!app || !signatureValid(parts, publicKeyOf(app))) return { ok: false, message: UNDECODABLE };
  return checkTimes(claims, Math.floor(nowMs / 1000)) ?? { ok: true, app };
}

function checkTimes(claims: Record<string, unknown>, now: number): JwtCheck | undefined {
  const { exp, iat } = claims;
  if (typeof exp !== 'number' || exp <= now) {
    return { ok: false, message: "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires." };
  }
  if (exp - now > MAX_JWT_LIFETIME_SECONDS) return { ok: false, message: "'Expiration time' claim ('exp') is too far in the future." };
  if (typeof iat !== 'number' || iat > now + IAT_SKEW_SECONDS) {
    return { ok: false, message: "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued." };
  }
  return undefined;
}

const publicKeys = new WeakMap<GitHubAppConfig, KeyObject>();

function publicKeyOf(app: GitHubAppConfig): KeyObject {
  let key = publicKeys.get(app);
  if (!key) {
    key = createPublicKey(app.publicKey);
    publicKeys.set(app, key);
  }
  return key;
}

function signatureValid(parts: string[], key: KeyObject): boolean {
  const verifier = createVerify('RSA-SHA256');
  verifier.update(`${parts[0]}.${parts[1]}`);
  return verifier.verify(key, Buffer.from(parts[2], 'base64url'));
}

function decodeJson(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// ---- Installation tokens ---------------------------------------------------------------

export interface InstallationTokenRequest {
  repositories?: unknown;
  repository_ids?: unknown;
  permissions?: unknown;
}

export interface IssuedInstallationToken {
  principal: Principal;
  body: { token: string; expires_at: string; permissions: Record<string, SecretsAccess>; repository_selection: 'all' | 'selected' };
}

export type IssueResult = { ok: true; issued: IssuedInstallationToken } | { ok: false; message: string };

/** How the token endpoint sees the emulator's repositories, to check a narrowing request. */
export interface RepoDirectory {
  exists(fullName: string): boolean;
  fullNameOf(id: number): string | undefined;
}

export function issueInstallationToken(
  installation: GitHubAppInstallation,
  request: InstallationTokenRequest,
  expiresAt: number,
  directory: RepoDirectory,
): IssueResult {
  const permissions = narrowPermissions(installation.permissions, request.permissions);
  if (!permissions) return { ok: false, message: 'The permissions requested are not granted to this installation.' };
  const repos = narrowRepositories(installation, request, directory);
  if (repos === 'invalid') return { ok: false, message: 'There is at least one repository that does not exist or is not accessible to the parent installation.' };
  const token = `ghs_${randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}`;
  const principal = installationPrincipal(token, installation, permissions, repos, expiresAt);
  const selection = repos === undefined ? 'all' : 'selected';
  return { ok: true, issued: { principal, body: { token, expires_at: githubTime(expiresAt), permissions, repository_selection: selection } } };
}

function installationPrincipal(
  token: string,
  installation: GitHubAppInstallation,
  permissions: Record<string, SecretsAccess>,
  repos: Set<string> | undefined,
  expiresAt: number,
): Principal {
  const account = installation.account.toLowerCase();
  return {
    token,
    label: `installation ID ${installation.id}`,
    expiresAt,
    access(target) {
      if (target.kind === 'org') return target.org.toLowerCase() === account ? permissions.organization_secrets : undefined;
      const name = target.fullName.toLowerCase();
      const covered = repos ? repos.has(name) : name.startsWith(`${account}/`);
      return covered ? permissions.secrets : undefined;
    },
  };
}

function narrowPermissions(granted: Record<string, SecretsAccess>, requested: unknown): Record<string, SecretsAccess> | undefined {
  if (requested === undefined) return { ...granted };
  if (typeof requested !== 'object' || requested === null) return undefined;
  const result: Record<string, SecretsAccess> = {};
  for (const [name, level] of Object.entries(requested as Record<string, unknown>)) {
    const have = granted[name];
    if (have === undefined || (level !== 'read' && level !== 'write') || (level === 'write' && have !== 'write')) return undefined;
    result[name] = level;
  }
  return result;
}

/** Undefined means "all repositories of the installation". */
function narrowRepositories(installation: GitHubAppInstallation, request: InstallationTokenRequest, directory: RepoDirectory): Set<string> | undefined | 'invalid' {
  const installed = installation.repositories ? lowerSet(installation.repositories) : undefined;
  const { repositories: names, repository_ids: ids } = request;
  if (names === undefined && ids === undefined) return installed;
  if ((names !== undefined && !Array.isArray(names)) || (ids !== undefined && !Array.isArray(ids))) return 'invalid';
  const byName = (names ?? []).map((name) => `${installation.account}/${String(name)}`.toLowerCase());
  const byId = (ids ?? []).map((id) => directory.fullNameOf(Number(id))?.toLowerCase() ?? '');
  const wanted = [...byName, ...byId];
  const account = `${installation.account.toLowerCase()}/`;
  const reachable = (full: string) => directory.exists(full) && full.startsWith(account) && (installed ? installed.has(full) : true);
  return wanted.every(reachable) ? new Set(wanted) : 'invalid';
}

/** GitHub timestamps have second precision and a `Z`. */
export function githubTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
