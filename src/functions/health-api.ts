import type { RotationDeps } from '../rotation/deps';
import { checkDrift } from '../rotation/drift';
import { allPassed, preflight } from '../rotation/preflight';
import { guardedRoute, unknownCredential, type Handler } from './rotation-api';

export const HEALTH_API = { health: 'rotationApiHealth', preflight: 'rotationApiPreflight' } as const;

/** GET credentials/{id}/health (a fresh drift check, read-only) and POST credentials/{id}/preflight; same key and app role as the rotation API. */
export function registerHealthApi(getDeps: () => RotationDeps): void {
  const register = guardedRoute(getDeps);
  register(HEALTH_API.health, 'GET', 'credentials/{id}/health', health);
  register(HEALTH_API.preflight, 'POST', 'credentials/{id}/preflight', runPreflight);
}

/** Checks and reports; records nothing and repairs nothing (the driftCheck timer does). */
const health: Handler = async (deps, _client, request) => {
  const credential = deps.config.credentials.find((c) => c.id === request.params.id);
  if (!credential) return unknownCredential(request.params.id);
  return { status: 200, jsonBody: await checkDrift(deps, credential) };
};

/** 200 when every check passed, 422 with the same table when any failed. */
const runPreflight: Handler = async (deps, _client, request) => {
  const credential = deps.config.credentials.find((c) => c.id === request.params.id);
  if (!credential) return unknownCredential(request.params.id);
  const rows = await preflight(deps, [credential]);
  return { status: allPassed(rows) ? 200 : 422, jsonBody: { credentialId: credential.id, passed: allPassed(rows), checks: rows } };
};
