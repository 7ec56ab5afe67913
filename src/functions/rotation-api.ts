import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import type { Credential } from '../config/schema';
import { instanceIdFor } from '../orchestrations/contract';
import type { RotationDeps } from '../rotation/deps';
import { nextDue } from '../rotation/schedule';
import { lastHealth } from '../rotation/drift-health';
import { TAG } from '../rotation/state';
import type { RotationStatus } from '../rotation/status';
import { currentStatus, startRotation } from './start-rotation';

export const ROTATION_API = { rotate: 'rotationApiRotate', propagate: 'rotationApiPropagate', list: 'rotationApiList', status: 'rotationApiStatus' } as const;

export type Handler = (deps: RotationDeps, client: DurableClient, request: HttpRequest) => Promise<HttpResponseInit>;

/** Registers an API route behind the function key, the app-role check and the durable client input. */
export function guardedRoute(getDeps: () => RotationDeps) {
  return (name: string, method: 'GET' | 'POST', route: string, handler: Handler) =>
    app.http(name, {
      methods: [method],
      route,
      authLevel: 'function',
      extraInputs: [df.input.durableClient()],
      handler: (request: HttpRequest, context: InvocationContext) => guarded(getDeps(), request, context, handler),
    });
}

/** POST credentials/{id}/rotate and /propagate, GET credentials, GET credentials/{id}/rotation; function key, and an app role when configured. */
export function registerRotationApi(getDeps: () => RotationDeps): void {
  const register = guardedRoute(getDeps);
  register(ROTATION_API.rotate, 'POST', 'credentials/{id}/rotate', rotate);
  register(ROTATION_API.propagate, 'POST', 'credentials/{id}/propagate', propagate);
  register(ROTATION_API.list, 'GET', 'credentials', list);
  register(ROTATION_API.status, 'GET', 'credentials/{id}/rotation', rotationOf);
}

/** The API's one access check (app role), shared by every HTTP function including the dashboard. */
export async function guarded(deps: RotationDeps, request: HttpRequest, context: InvocationContext, handler: Handler): Promise<HttpResponseInit> {
  const denied = checkAppRole(deps.requiredAppRole, request.headers.get('x-ms-client-principal'));
  if (denied) {
    context.warn(`${context.functionName}: refused ${request.method} ${new URL(request.url).pathname}: ${denied.jsonBody.error.message}`);
    return denied;
  }
  return handler(deps, df.getClient(context), request);
}

/** App Service authentication passes the caller as base64 JSON; its role claims carry app roles. */
function checkAppRole(required: string | undefined, header: string | null): (HttpResponseInit & { jsonBody: { error: { message: string } } }) | undefined {
  if (!required) return undefined;
  if (!header) return problem(401, 'unauthenticated', `this API requires a signed-in caller holding the app role ${required}`);
  const principal = parsePrincipal(header);
  if (!principal) return problem(401, 'unauthenticated', 'the client principal header is not a base64 JSON principal with a claims array');
  const roleTypes = new Set(['roles', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role', principal.role_typ]);
  const roles = principal.claims.filter((c) => roleTypes.has(c.typ)).map((c) => c.val);
  return roles.includes(required) ? undefined : problem(403, 'forbidden', `the caller does not hold the app role ${required}`);
}

interface Principal {
  role_typ?: string;
  claims: { typ: string; val: string }[];
}

/** Undefined for anything but an object whose claims are an array of { typ, val } strings. */
function parsePrincipal(header: string): Principal | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { role_typ: roleType, claims } = parsed as { role_typ?: unknown; claims?: unknown };
  if (!Array.isArray(claims) || !claims.every(isClaim)) return undefined;
  return { role_typ: typeof roleType === 'string' ? roleType : undefined, claims };
}

function isClaim(claim: unknown): claim is { typ: string; val: string } {
  return typeof claim === 'object' && claim !== null && typeof (claim as { typ?: unknown }).typ === 'string' && typeof (claim as { val?: unknown }).val === 'string';
}

const rotate: Handler = (deps, client, request) => start(deps, client, request, 'rotate');

/** The live version again, to the targets the last rotation could not reach (all, when it reached them all). */
const propagate: Handler = (deps, client, request) => start(deps, client, request, 'propagate');

async function start(deps: RotationDeps, client: DurableClient, request: HttpRequest, mode: 'rotate' | 'propagate'): Promise<HttpResponseInit> {
  const credential = deps.config.credentials.find((c) => c.id === request.params.id);
  if (!credential) return unknownCredential(request.params.id);
  const body = parseStartBody(await request.text());
  if (typeof body === 'string') return problem(400, 'bad-request', body);
  const last = await currentStatus(client, instanceIdFor(credential.id));
  const notBefore = body.force ? undefined : tooSoon(credential, mode, last, deps.now());
  if (notBefore) return tooManyRequests(credential, notBefore, deps.now());
  const targets = mode === 'propagate' ? failedTargets(last) : undefined;
  const result = await startRotation(client, credential.id, 'manual', { mode, targets });
  if (result.outcome === 'running') {
    const custom = result.status.customStatus as RotationStatus | undefined;
    return { status: 409, jsonBody: { error: { code: 'rotation-running', message: `a rotation of "${credential.id}" is already running` }, instanceId: result.instanceId, runtimeStatus: result.status.runtimeStatus, stage: custom?.stage } };
  }
  return accepted(credential.id, result.instanceId, mode);
}

/**
 * Our own 202, never the Durable extension's check-status payload: its management URLs
 * carry the system key, which starts, terminates and purges any instance.
 */
function accepted(credentialId: string, instanceId: string, mode: 'rotate' | 'propagate'): HttpResponseInit {
  const location = `/api/credentials/${encodeURIComponent(credentialId)}/rotation`;
  return { status: 202, headers: { Location: location, 'Retry-After': '10' }, jsonBody: { id: instanceId, instanceId, credentialId, mode, statusUri: location } };
}

/**
 * When the last rotation completed less than minIntervalMinutes ago, the time it may run
 * again. A propagate after a degraded rotation is its remedy, so it is let through: it
 * changes no password and reaches only the targets that missed the live version.
 */
function tooSoon(credential: Credential, mode: 'rotate' | 'propagate', last: DurableOrchestrationStatus | undefined, now: Date): Date | undefined {
  if (!last || String(last.runtimeStatus) !== 'Completed') return undefined;
  if (mode === 'propagate' && (last.customStatus as RotationStatus | undefined)?.outcome === 'degraded') return undefined;
  const notBefore = new Date(new Date(last.lastUpdatedTime).getTime() + credential.minIntervalMinutes * 60_000);
  return notBefore > now ? notBefore : undefined;
}

function tooManyRequests(credential: Credential, notBefore: Date, now: Date): HttpResponseInit {
  const retryAfter = Math.ceil((notBefore.getTime() - now.getTime()) / 1000);
  const message = `credential "${credential.id}" completed a rotation less than ${credential.minIntervalMinutes} min ago; it may run again at ${notBefore.toISOString()}, or send {"force": true}`;
  return { status: 429, headers: { 'Retry-After': String(retryAfter) }, jsonBody: { error: { code: 'too-soon', message }, notBefore: notBefore.toISOString() } };
}

function failedTargets(last: DurableOrchestrationStatus | undefined): string[] | undefined {
  const failed = (fullRotationStatus(last)?.targets ?? []).filter((t) => t.outcome === 'failed' && t.key).map((t) => t.key as string);
  return failed.length > 0 ? failed : undefined;
}

/** An empty body, `{}`, or `{"force": true}` (an operator skipping minIntervalMinutes); anything else is named and refused. */
function parseStartBody(text: string): { force: boolean } | string {
  if (text.trim() === '') return { force: false };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'the body is not JSON; send no body, {} or {"force": true}';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object; send no body, {} or {"force": true}';
  const unknown = Object.keys(body).filter((field) => field !== 'force');
  if (unknown.length > 0) return `unknown field(s) ${unknown.map((f) => JSON.stringify(f.slice(0, 64))).join(', ')}; this call takes only force`;
  const { force } = body as { force?: unknown };
  if (force !== undefined && typeof force !== 'boolean') return 'force must be true or false';
  return { force: force === true };
}

const list: Handler = async (deps, client) => {
  const now = deps.now();
  const credentials = await Promise.all(deps.config.credentials.map((c) => describeCredential(deps, client, c, now)));
  return { status: 200, jsonBody: { credentials } };
};

async function describeCredential(deps: RotationDeps, client: DurableClient, c: Credential, now: Date) {
  const [live, status, health] = await Promise.all([deps.vault(c.keyVault.url).latest('api', c.keyVault.secret), currentStatus(client, instanceIdFor(c.id)), lastHealth(deps, c)]);
  const custom = status?.customStatus as RotationStatus | undefined;
  return {
    id: c.id,
    strategy: c.strategy,
    role: live?.tags[TAG.role] ?? c.postgres.role ?? null,
    liveVersion: live?.version ?? null,
    rotatedAt: live?.tags[TAG.rotatedAt] ?? live?.createdOn ?? null,
    expiresOn: live?.expiresOn ?? null,
    nextDue: nextDue(c, live, now)?.toISOString() ?? null,
    // As the last drift check recorded it: `healthy`, `drifted:<codes>`, or null before the first check.
    health: health.state ?? null,
    lastResult: status ? { instanceId: status.instanceId, runtimeStatus: status.runtimeStatus, outcome: custom?.outcome ?? null, stage: custom?.stage ?? null, rotationId: custom?.rotationId ?? null, error: custom?.error?.code ?? null, lastUpdatedTime: status.lastUpdatedTime } : null,
  };
}

const rotationOf: Handler = async (deps, client, request) => {
  const credential = deps.config.credentials.find((c) => c.id === request.params.id);
  if (!credential) return unknownCredential(request.params.id);
  const status = await currentStatus(client, instanceIdFor(credential.id));
  if (!status) return problem(404, 'no-rotation', `credential "${credential.id}" has not been rotated by this service yet`);
  return { status: 200, jsonBody: { instanceId: status.instanceId, runtimeStatus: status.runtimeStatus, createdTime: status.createdTime, lastUpdatedTime: status.lastUpdatedTime, rotation: fullRotationStatus(status) ?? null } };
};

const MAX_ECHOED_ID = 128;

/** A long id is not echoed: the caller chose it, and it would go into every log of the 404. */
export function unknownCredential(id: string): HttpResponseInit {
  const named = id.length <= MAX_ECHOED_ID ? `"${id}"` : `of ${id.length} characters`;
  return problem(404, 'unknown-credential', `no credential with id ${named} is configured`);
}

/**
 * A finished rotation returns its full status (every target, whole messages) as output;
 * the custom status is the compact view kept under the extension's 16 KB limit.
 */
function fullRotationStatus(status: DurableOrchestrationStatus | undefined): RotationStatus | undefined {
  const output = status?.output as RotationStatus | undefined;
  if (output && typeof output === 'object' && Array.isArray(output.stages)) return output;
  return status?.customStatus as RotationStatus | undefined;
}

export function problem(status: number, code: string, message: string) {
  return { status, jsonBody: { error: { code, message } } };
}
