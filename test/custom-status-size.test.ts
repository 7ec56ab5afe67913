import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTAINER_APPS_ACTIONS } from '../src/targets/arm-actions';
import { CUSTOM_STATUS_LIMIT_BYTES, customStatusBytes, STATUS_TARGETS_LISTED, type RotationStatus } from '../src/rotation/status';
import { startHarness, type Harness } from './support/harness';

const APPS = Array.from({ length: 100 }, (_, i) => ({ app: `payments-ledger-reconciliation-worker-${String(i).padStart(3, '0')}` }));

describe('the custom status stays under the 16 KB the extension accepts', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{ id: 'many-apps', role: 'many_apps_app', containerApps: APPS }]);
  });
  afterAll(() => h?.stop());

  it('when 100 Container App targets all fail with long messages, then the custom status stays under 16 KB of UTF-16 JSON, and the output and the status API hold every target', async () => {
    // The service may list revisions but not restart them: ARM's AuthorizationFailed message is long.
    h.env.containerApps.addPrincipal({ token: h.env.serviceToken, actions: CONTAINER_APPS_ACTIONS.filter((a) => !a.endsWith('restart/action')) });
    const host = h.newHost();

    const result = await h.rotate(host, 'many-apps');

    expect(result.status.runtimeStatus).toBe('Completed');
    const custom = result.custom;
    expect(custom.outcome).toBe('degraded');
    const bytes = customStatusBytes(custom);
    expect(bytes).toBeLessThanOrEqual(CUSTOM_STATUS_LIMIT_BYTES);
    expect(custom.targetCounts).toEqual({ total: 100, succeeded: 0, failed: 100, skipped: 0, listed: custom.targets?.length });
    expect(custom.targets?.length).toBeGreaterThan(0);
    expect(custom.targets?.length).toBeLessThanOrEqual(STATUS_TARGETS_LISTED);
    for (const t of custom.targets ?? []) expect(t.message?.length).toBeLessThanOrEqual(200);

    const output = result.status.output as RotationStatus;
    expect(output.targets).toHaveLength(100);
    expect(output.targets?.every((t) => t.outcome === 'failed' && t.errorCode === 'container-apps-forbidden')).toBe(true);
    const longest = Math.max(...(output.targets ?? []).map((t) => t.message?.length ?? 0));
    expect(longest).toBeGreaterThan(300);
    expect(customStatusBytes(output)).toBeGreaterThan(CUSTOM_STATUS_LIMIT_BYTES);

    const shown = await host.invokeHttp('rotationApiStatus', new HttpRequest({ method: 'GET', url: 'http://localhost/api/credentials/many-apps/rotation' }));
    const body = JSON.parse(await shown.text()) as { rotation: RotationStatus };
    expect(body.rotation.targets).toHaveLength(100);
    expect(body.rotation.targets?.map((t) => t.key)).toEqual(APPS.map((_, i) => `container-app:${i}`));
    console.info(`custom status: ${bytes} bytes of UTF-16 JSON; the full status (output): ${customStatusBytes(output)} bytes`);
  });
});
