import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import type { Credential } from '../config/schema';
import { instanceIdFor } from '../orchestrations/contract';
import type { RotationDeps } from '../rotation/deps';
import { nextDue } from '../rotation/schedule';
import { TAG } from '../rotation/state';
import type { RotationStatus } from '../rotation/status';
import { currentStatus, startRotation } from './start-rotation';

export const ROTATION_API = { rotate: 'rotationApiRotate', propagate: 'rotationApiPropagate', list: 'rotationApiList', status: 'rotationApiStatus' } as const;

type Handler = (deps: RotationDeps, client: DurableClient, request: HttpRequest) => Promise<HttpResponseInit>;

/** POST credentials/{id}/rotate and /propagate, GET credentials, GET credentials/{id}/rotation; function key, and an app role when configured. */
export function registerRotationApi(getDeps: () => RotationDeps): void {
  const register = (name: string, method: 'GET' | 'POST', route: string, handler: Handler) =>
    app.http(name, {
      methods: [method],
      route,
      authLevel: 'function',
      extraInputs: [df.input.durableClient()],
      handler: (request: HttpRequest, context: InvocationContext) => guarded(getDeps(), request, context, handler),
    });
  register(ROTATION_API.rotate, 'POST', 'credentials/{id}/rotate', rotate);
  register(ROTATION_API.propagate, 'POST', 'credentials/{id}/propagate', propagate);
  register(ROTATION_API.list, 'GET', 'credentials', list);
  register(ROTATION_API.status, 'GET', 'credentials/{id}/rotation', rotationOf);
}

async function guarded(deps: RotationDeps, request: HttpRequest, context: InvocationContext, handler: Handler): Promise<HttpResponseInit> {
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
  let principal: { role_typ?: string; claims?: { typ: string; val: string }[] };
  try {
    principal = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    return problem(401, 'unauthenticated', 'the client principal header is not valid base64 JSON');
  }
  const roleTypes = new Set(['roles', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role', principal.role_typ]);
  const roles = (principal.claims ?? []).filter((c) => roleTypes.has(c.typ)).map((c) => c.val);
  return roles.includes(required) ? undefined : problem(403, 'forbidden', `the caller does not hold the app role ${required}`);
}

const rotate: Handler = (deps, client, request) => start(deps, client, request, 'rotate');

/** The live version again, to the targets the last rotation could not reach (all, when it reached them all). */
const propagate: Handler = (deps, client, request) => start(deps, client, request, 'propagate');

async function start(deps: RotationDeps, client: DurableClient, request: HttpRequest, mode: 'rotate' | 'propagate'): Promise<HttpResponseInit> {
  const credential = deps.config.credentials.find((c) => c.id === request.params.id);
  if (!credential) return problem(404, 'unknown-credential', `no credential with id "${request.params.id}" is configured`);
  const bodyError = checkEmptyObjectBody(await request.text());
  if (bodyError) return problem(400, 'bad-request', bodyError);
  const targets = mode === 'propagate' ? await failedTargets(client, credential.id) : undefined;
  const result = await startRotation(client, credential.id, 'manual', { mode, targets });
  if (result.outcome === 'running') {
    const custom = result.status.customStatus as RotationStatus | undefined;
    return { status: 409, jsonBody: { error: { code: 'rotation-running', message: `a rotation of "${credential.id}" is already running` }, instanceId: result.instanceId, runtimeStatus: result.status.runtimeStatus, stage: custom?.stage } };
  }
  return client.createCheckStatusResponse(request, result.instanceId);
}

async function failedTargets(client: DurableClient, credentialId: string): Promise<string[] | undefined> {
  const last = (await currentStatus(client, instanceIdFor(credentialId)))?.customStatus as RotationStatus | undefined;
  const failed = (last?.targets ?? []).filter((t) => t.outcome === 'failed' && t.key).map((t) => t.key as string);
  return failed.length > 0 ? failed : undefined;
}

/** The rotation takes no parameters: an empty body or `{}`; anything else is named and refused. */
function checkEmptyObjectBody(text: string): string | undefined {
  if (text.trim() === '') return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'the body is not JSON; send no body or {}';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object; send no body or {}';
  const fields = Object.keys(body);
  return fields.length > 0 ? `unknown field(s) ${fields.join(', ')}; this call takes no parameters` : undefined;
}

const list: Handler = async (deps, client) => {
  const now = deps.now();
  const credentials = await Promise.all(deps.config.credentials.map((c) => describeCredential(deps, client, c, now)));
  return { status: 200, jsonBody: { credentials } };
};

async function describeCredential(deps: RotationDeps, client: DurableClient, c: Credential, now: Date) {
  const [live, status] = await Promise.all([deps.vault(c.keyVault.url).latest('api', c.keyVault.secret), currentStatus(client, instanceIdFor(c.id))]);
  const custom = status?.customStatus as RotationStatus | undefined;
  return {
    id: c.id,
    strategy: c.strategy,
    role: live?.tags[TAG.role] ?? c.postgres.role ?? null,
    liveVersion: live?.version ?? null,
    rotatedAt: live?.tags[TAG.rotatedAt] ?? live?.createdOn ?? null,
    expiresOn: live?.expiresOn ?? null,
    nextDue: nextDue(c, live, now)?.toISOString() ?? null,
    lastResult: status ? { instanceId: status.instanceId, runtimeStatus: status.runtimeStatus, outcome: custom?.outcome ?? null, stage: custom?.stage ?? null, rotationId: custom?.rotationId ?? null, error: custom?.error?.code ?? null, lastUpdatedTime: status.lastUpdatedTime } : null,
  };
}

const rotationOf: Handler = async (deps, client, request) => {
  const credential = deps.config.credentials.find((c) => c.id === request.params.id);
  if (!credential) return problem(404, 'unknown-credential', `no credential with id "${request.params.id}" is configured`);
  const status = await currentStatus(client, instanceIdFor(credential.id));
  if (!status) return problem(404, 'no-rotation', `credential "${credential.id}" has not been rotated by this service yet`);
  return { status: 200, jsonBody: { instanceId: status.instanceId, runtimeStatus: status.runtimeStatus, createdTime: status.createdTime, lastUpdatedTime: status.lastUpdatedTime, rotation: status.customStatus ?? null } };
};

function problem(status: number, code: string, message: string) {
  return { status, jsonBody: { error: { code, message } } };
}
