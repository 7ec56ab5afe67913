import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackCertificate } from '../src/local/tls';

const run = promisify(execFile);
const PROBE = join(__dirname, 'fixtures', 'azure-monitor-probe.ts');
const TSX = join(__dirname, '..', 'node_modules', '.bin', 'tsx');
const HOST_TRACE = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };

interface Envelope {
  name: string;
  tags: Record<string, string>;
  data: { baseData: { name?: string; id?: string; properties?: Record<string, string>; metrics?: { name: string; value: number }[] } };
}

/** Each case runs in its own process: Azure Monitor registers process-wide providers, and the cold case must start clean. */
async function probe(mode: 'cold' | 'export', env: Record<string, string>): Promise<{ started: boolean; loadedTelemetry?: number; refused: string[]; received?: { path: string; envelope: Envelope }[] }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APPLICATIONINSIGHTS_')));
  const { stdout } = await run(TSX, [PROBE, mode], { env: { ...base, ...env }, timeout: 50_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('Azure Monitor export: lazy, correlated with the Functions host', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'azure-monitor-'));
    const certificate = await loopbackCertificate();
    writeFileSync(join(dir, 'key.pem'), certificate.key);
    writeFileSync(join(dir, 'cert.pem'), certificate.cert);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('when APPLICATIONINSIGHTS_CONNECTION_STRING is not set, then loading the app starts no exporter and loads no OpenTelemetry SDK module', async () => {
    const result = await probe('cold', {});
    expect(result).toEqual({ started: false, loadedTelemetry: 0, refused: [] });
  });

  it('when it is set, then the rotation and stage spans reach the ingestion endpoint inside the host invocation trace, with the metrics, and nothing else is contacted', async () => {
    const result = await probe('export', {
      PROBE_TLS_DIR: dir,
      NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'),
      PROBE_TRACEPARENT: `00-${HOST_TRACE.traceId}-${HOST_TRACE.spanId}-01`,
      // As on Flex Consumption: the platform is detected from the environment, so the distro never probes the VM metadata endpoint.
      WEBSITE_SITE_NAME: 'func-probe',
      WEBSITE_SKU: 'FlexConsumption',
      // Statsbeat and SDK stats go to Microsoft's own endpoints, which a test must not reach.
      APPLICATION_INSIGHTS_NO_STATSBEAT: 'true',
      APPLICATIONINSIGHTS_SDKSTATS_DISABLED: 'true',
    });
    expect(result.started).toBe(true);
    expect(result.refused).toEqual([]);
    const envelopes = result.received!.map((r) => r.envelope);
    expect(new Set(result.received!.map((r) => r.path))).toEqual(new Set(['/v2.1/track']));
    const spans = envelopes.filter((e) => e.name === 'Microsoft.ApplicationInsights.RemoteDependency');
    const rotation = spans.find((e) => e.data.baseData.name === 'rotation')!;
    const stage = spans.find((e) => e.data.baseData.name === 'rotation.begin')!;
    expect(rotation.tags['ai.operation.id']).toBe(HOST_TRACE.traceId);
    expect(rotation.tags['ai.operation.parentId']).toBe(HOST_TRACE.spanId);
    expect(stage.tags['ai.operation.id']).toBe(HOST_TRACE.traceId);
    expect(stage.tags['ai.operation.parentId']).toBe(rotation.data.baseData.id);
    expect(rotation.data.baseData.properties).toMatchObject({ 'rotator.credential.id': 'orders-db', 'rotator.outcome': 'succeeded' });
    const metrics = envelopes.filter((e) => e.name === 'Microsoft.ApplicationInsights.Metric').flatMap((e) => e.data.baseData.metrics!.map((m) => ({ name: m.name, properties: e.data.baseData.properties })));
    expect(metrics.find((m) => m.name === 'rotator.rotations')?.properties).toMatchObject({ 'rotator.outcome': 'succeeded', 'rotator.credential.id': 'orders-db' });
    expect(metrics.some((m) => m.name === 'rotator.stage.duration')).toBe(true);
  });
});
