import { metrics, trace } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader, type DataPoint, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { resetTelemetryInstruments } from '../../src/telemetry/rotation-telemetry';

/** Collects on demand: the test reads metrics when it wants them, nothing is exported on a timer. */
class OnDemandReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

export interface InMemoryTelemetry {
  spans(): ReadableSpan[];
  metric(name: string): MetricData | undefined;
  points(name: string): DataPoint<unknown>[];
  collect(): Promise<MetricData[]>;
}

/** Registers global tracer and meter providers with in-memory exporters, once per test file (the API allows one). */
export function installInMemoryTelemetry(): InMemoryTelemetry {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  if (!trace.setGlobalTracerProvider(tracerProvider) || !metrics.setGlobalMeterProvider(meterProvider)) throw new Error('a telemetry provider was already registered in this process');
  resetTelemetryInstruments();
  let collected: MetricData[] = [];
  const telemetry: InMemoryTelemetry = {
    spans: () => exporter.getFinishedSpans(),
    async collect() {
      const { resourceMetrics } = await reader.collect();
      collected = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      return collected;
    },
    metric: (name) => collected.find((m) => m.descriptor.name === name),
    points: (name) => (telemetry.metric(name)?.dataPoints ?? []) as DataPoint<unknown>[],
  };
  return telemetry;
}
