import { context, metrics, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { RotationStatus, StageRecord } from '../rotation/status';

/**
 * Spans and metrics of the rotations, through the OpenTelemetry API only: without a
 * registered provider (tests that install none, the CLI) every call is a no-op, and with
 * Azure Monitor (see azure-monitor.ts) they reach Application Insights. Attributes carry
 * ids, names, outcomes and counts; never a secret, a version or a message.
 */

export const INSTRUMENTATION = 'pg-credential-rotator';

export const METRIC = {
  rotations: 'rotator.rotations',
  stageDuration: 'rotator.stage.duration',
  daysUntilExpiry: 'rotator.credential.days_until_expiry',
  driftFindings: 'rotator.drift.findings',
  consumerFailures: 'rotator.consumer.failures',
} as const;

export const ATTR = {
  credentialId: 'rotator.credential.id',
  rotationId: 'rotator.rotation.id',
  role: 'rotator.role',
  stage: 'rotator.stage',
  outcome: 'rotator.outcome',
  attempts: 'rotator.attempts',
  reason: 'rotator.reason',
  errorCode: 'rotator.error.code',
  consumerKind: 'rotator.consumer.kind',
  rotationScheduled: 'rotator.rotation.scheduled',
  findingCode: 'rotator.finding.code',
  severity: 'rotator.finding.severity',
} as const;

/** Spans' names: one rotation, one child per stage it ran. */
export const SPAN = { rotation: 'rotation', stage: (stage: string) => `rotation.${stage}` };

const DAY_MS = 86_400_000;

function meter() {
  return metrics.getMeter(INSTRUMENTATION);
}

// Instruments are created on first use so that a provider registered after this module loads still receives them.
let instruments: ReturnType<typeof createInstruments> | undefined;

function createInstruments() {
  const m = meter();
  const expiry = new Map<string, { days: number; scheduled: boolean }>();
  m.createObservableGauge(METRIC.daysUntilExpiry, { description: 'Days until the live secret version expires, per credential', unit: 'd' }).addCallback((result) => {
    for (const [credentialId, { days, scheduled }] of expiry) result.observe(days, { [ATTR.credentialId]: credentialId, [ATTR.rotationScheduled]: scheduled });
  });
  return {
    rotations: m.createCounter(METRIC.rotations, { description: 'Finished rotations, by outcome' }),
    stageDuration: m.createHistogram(METRIC.stageDuration, { description: 'Duration of a rotation stage', unit: 'ms' }),
    consumerFailures: m.createCounter(METRIC.consumerFailures, { description: 'Consumers (GitHub secrets, Container Apps) a rotation could not update or confirm' }),
    driftFindings: m.createCounter(METRIC.driftFindings, { description: 'Drift findings of the health check, by code and severity' }),
    expiry,
  };
}

function get() {
  instruments ??= createInstruments();
  return instruments;
}

/** Forgets the instruments, so a test that registers a fresh meter provider gets new ones. */
export function resetTelemetryInstruments(): void {
  instruments = undefined;
}

export interface RotationTiming {
  startedAt: Date;
  endedAt: Date;
}

/**
 * Emits the rotation's span with one child span per stage record, and its metrics. The
 * orchestrator calls it once, at its end and only when not replaying, so a replay never
 * emits twice; the stage records carry their own start, duration and attempts.
 */
export function recordRotation(status: RotationStatus, timing: RotationTiming): void {
  const ids = rotationAttributes(status);
  const tracer = trace.getTracer(INSTRUMENTATION);
  const root = tracer.startSpan(SPAN.rotation, { startTime: timing.startedAt, attributes: { ...ids, [ATTR.outcome]: status.outcome, [ATTR.stage]: status.stage, ...(status.reason ? { [ATTR.reason]: status.reason } : {}), ...errorCode(status.error?.code) } });
  const parent = trace.setSpan(context.active(), root);
  for (const record of status.stages) stageSpan(record, ids, parent);
  if (status.outcome !== 'succeeded') root.setStatus({ code: SpanStatusCode.ERROR, message: status.error?.code ?? status.outcome });
  root.end(timing.endedAt);
  recordMetrics(status);
}

function stageSpan(record: StageRecord, ids: Attributes, parent: Context): void {
  const start = Date.parse(record.startedAt);
  const span: Span = trace.getTracer(INSTRUMENTATION).startSpan(SPAN.stage(record.stage), { startTime: start, attributes: { ...ids, [ATTR.stage]: record.stage, [ATTR.outcome]: record.outcome, ...(record.attempts ? { [ATTR.attempts]: record.attempts } : {}), ...errorCode(record.detail) } }, parent);
  if (record.outcome === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: record.detail ?? 'failed' });
  span.end(start + record.durationMs);
}

/** Attributes stay low in cardinality (no rotation id): one series per credential, stage, outcome or consumer kind. */
function recordMetrics(status: RotationStatus): void {
  const { rotations, stageDuration, consumerFailures } = get();
  const credential = { [ATTR.credentialId]: status.credentialId };
  rotations.add(1, { ...credential, [ATTR.outcome]: status.outcome, ...(status.reason ? { [ATTR.reason]: status.reason } : {}) });
  for (const record of status.stages) stageDuration.record(record.durationMs, { ...credential, [ATTR.stage]: record.stage, [ATTR.outcome]: record.outcome });
  for (const target of status.targets ?? []) {
    if (target.outcome === 'failed') consumerFailures.add(1, { ...credential, [ATTR.consumerKind]: target.kind, ...errorCode(target.errorCode) });
  }
}

/**
 * The days-until-expiry gauge reports the last value seen per credential. `rotationScheduled`
 * says whether the service will rotate it before it expires; an alert fires on a credential
 * that expires soon with none scheduled.
 */
export function observeExpiry(credentialId: string, expiresOn: string | undefined, rotationScheduled: boolean, now: Date): void {
  const expires = expiresOn === undefined ? Number.NaN : Date.parse(expiresOn);
  if (Number.isNaN(expires)) get().expiry.delete(credentialId);
  else get().expiry.set(credentialId, { days: Math.floor(((expires - now.getTime()) / DAY_MS) * 10) / 10, scheduled: rotationScheduled });
}

/** One count per drift finding of a health check, by code and severity. */
export function recordDriftFindings(credentialId: string, findings: readonly { code: string; severity: string }[]): void {
  for (const finding of findings) get().driftFindings.add(1, { [ATTR.credentialId]: credentialId, [ATTR.findingCode]: finding.code, [ATTR.severity]: finding.severity });
}

function rotationAttributes(status: RotationStatus): Attributes {
  return { [ATTR.credentialId]: status.credentialId, ...(status.rotationId ? { [ATTR.rotationId]: status.rotationId } : {}), ...(status.role ? { [ATTR.role]: status.role } : {}) };
}

function errorCode(code: string | undefined): Attributes {
  return code ? { [ATTR.errorCode]: code } : {};
}
