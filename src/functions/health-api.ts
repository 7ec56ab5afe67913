import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { RotationDeps } from '../rotation/deps';
import { checkDrift } from '../rotation/drift';
import { allPassed, preflight } from '../rotation/preflight';
import { guarded, problem, type Handler } from './rotation-api';

export const HEALTH_API = { health: 'rotationApiHealth', preflight: 'rotationApiPreflight' } as const;

/** GET credentials/{id}/health (a fresh drift check, read-only) and POST credentials/{id}/preflight; same key and app role as the rotation API. */
export function registerHealthApi(getDeps: () => RotationDeps): void {
  const register = (name: string, method: 'GET' | 'POST', route: string, handler: Handler) =>
    app.http(name, {
      methods: [method],
      route,
      authLevel: 'function',
      extraInputs: [df.input.durableClient()],
      handler: (request: HttpRequest, context: InvocationContext) => guarded(getDeps(), request, context, handler),
    });
  register(HEALTH_API.health, 'GET', 'credentials/{id}/health', health);
  register(HEALTH_API.preflight, 'POST', 'credentials/{id}/preflight', runPreflight);
}

/** Checks and reports; records nothing and repairs nothing (the driftCheck timer does). */
const health: Handler = async (deps, _client, request) => {
  const credential = deps.config.credentials.find((c) => c.id === request.params.id);
  if (!credential) return problem(404, 'unknown-credential', `no credential with id "${request.params.id}" is configured`);
  return { status: 200, jsonBody: await checkDrift(deps, credential) };
};

/** 200 when every check passed, 422 with the same table when any failed. */
const runPreflight: Handler = async (deps, _client, request) => {
  const credential = deps.config.credentials.find((c) => c.id === request.params.id);
  if (!credential) return problem(404, 'unknown-credential', `no credential with id "${request.params.id}" is configured`);
  const rows = await preflight(deps, [credential]);
  return { status: allPassed(rows) ? 200 : 422, jsonBody: { credentialId: credential.id, passed: allPassed(rows), checks: rows } };
};
