import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { RotationDeps } from '../rotation/deps';
import { fleetView } from './dashboard-data';
import { renderDashboard } from './dashboard-page';
import { guarded, type Handler } from './rotation-api';

export const DASHBOARD = 'dashboard';

/** GET /api/dashboard: one HTML page of the whole fleet, behind the API's function key and app role. */
export function registerDashboard(getDeps: () => RotationDeps): void {
  app.http(DASHBOARD, {
    methods: ['GET'],
    route: 'dashboard',
    authLevel: 'function',
    extraInputs: [df.input.durableClient()],
    handler: (request: HttpRequest, context: InvocationContext) => guarded(getDeps(), request, context, page),
  });
}

const page: Handler = async (deps, client) => ({
  status: 200,
  headers: {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    // Inline CSS only: no script, no frame, nothing fetched.
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
  },
  body: renderDashboard(await fleetView(deps, client), deps.now()),
});
