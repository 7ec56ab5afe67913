import type { TokenCredential } from '@azure/core-auth';
import { app, type PreInvocationContext } from '@azure/functions';
import { context, propagation } from '@opentelemetry/api';

export interface AzureMonitorSettings {
  /** APPLICATIONINSIGHTS_CONNECTION_STRING; absent or empty: no exporter is loaded. */
  connectionString?: string;
  /** Microsoft Entra sign-in for ingestion, as the Application Insights resource disables local auth. */
  credential?: TokenCredential;
}

type Distro = Pick<typeof import('@azure/monitor-opentelemetry'), 'useAzureMonitor'>;

/**
 * Starts the Azure Monitor OpenTelemetry distro when a connection string is set. The distro
 * and its SDK are imported here, on demand, so a cold start without one pays nothing for
 * them. Returns whether it started.
 */
export async function startAzureMonitor(settings: AzureMonitorSettings, load: () => Promise<Distro> = () => import('@azure/monitor-opentelemetry')): Promise<boolean> {
  if (!settings.connectionString) return false;
  const { useAzureMonitor } = await load();
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString: settings.connectionString, credential: settings.credential },
    // Rotations are rare and end in a burst of a dozen spans: keep them all rather than rate-limit them (the default is 5 a second).
    samplingRatio: 1,
    tracesPerSecond: 0,
    instrumentationOptions: {
      // Statement text would reach Application Insights; ALTER ROLE carries a SCRAM verifier.
      postgreSql: { enabled: false },
      // The Functions host already sends the invocation logs.
      console: { enabled: false },
    },
  });
  app.hook.preInvocation(joinHostTrace);
  return true;
}

/**
 * Runs each handler inside the trace the Functions host started for the invocation, so the
 * rotation's spans sit in the same operation as the host's request and dependency telemetry.
 */
export function joinHostTrace(invocation: Pick<PreInvocationContext, 'invocationContext' | 'functionHandler'>): void {
  const traceContext = invocation.invocationContext.traceContext;
  if (!traceContext?.traceParent) return;
  const parent = propagation.extract(context.active(), { traceparent: traceContext.traceParent, tracestate: traceContext.traceState ?? '' });
  invocation.functionHandler = context.bind(parent, invocation.functionHandler);
}
