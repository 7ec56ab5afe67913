import type { KeyCredential, TokenCredential } from '@azure/core-auth';
import type { EventGridPublisherClient, EventGridPublisherClientOptions, SendCloudEventInput } from '@azure/eventgrid';
import { isTransient, RotationError } from '../errors';

/**
 * A CloudEvent as the service emits it: plain JSON (the time is an ISO string), so it can
 * cross an activity boundary unchanged.
 */
export interface OutgoingCloudEvent<T extends object = object> {
  id: string;
  type: string;
  source: string;
  subject?: string;
  time: string;
  data: T;
}

export interface LifecycleEventsOptions {
  /** The custom topic endpoint, e.g. https://topic.westeurope-1.eventgrid.azure.net/api/events. */
  endpoint: string;
  /** A topic access key (`AzureKeyCredential`) or an Entra credential (the managed identity). */
  credential: KeyCredential | TokenCredential;
  /** Extra client options (pipeline policies, retry timings). */
  clientOptions?: EventGridPublisherClientOptions;
}

/** The only module that talks to Event Grid: publishes lifecycle events in the CloudEvents 1.0 schema. */
/** With a topic key when one is given, else with the service identity. */
export function lifecycleEvents(endpoint: string, key: string | undefined, identity: TokenCredential, clientOptions?: EventGridPublisherClientOptions): LifecycleEvents {
  const { AzureKeyCredential } = require('@azure/core-auth') as typeof import('@azure/core-auth');
  return new LifecycleEvents({ endpoint, credential: key ? new AzureKeyCredential(key) : identity, clientOptions });
}

export class LifecycleEvents {
  private readonly client: EventGridPublisherClient<'CloudEvent'>;
  private readonly host: string;

  constructor(options: LifecycleEventsOptions) {
    const url = new URL(options.endpoint);
    // A topic key travels in a header: never over plain HTTP.
    if (url.protocol !== 'https:') throw new RotationError({ code: 'invalid-config', stage: 'config', message: `the Event Grid endpoint must be an https:// URL, not ${url.protocol}//${url.host}` });
    this.host = url.host;
    // Required here, not imported: a cold start that publishes nothing does not load the SDK.
    const { EventGridPublisherClient } = require('@azure/eventgrid') as typeof import('@azure/eventgrid');
    this.client = new EventGridPublisherClient(options.endpoint, 'CloudEvent', options.credential, options.clientOptions);
  }

  /**
   * Reaches the topic without publishing: an empty batch is authenticated first and then
   * refused with 400 ("The array contains no events"), so a 400 proves the endpoint answers
   * and accepts this credential; 401/403 or no answer at all is the failure to report.
   */
  async probe(stage: string): Promise<void> {
    try {
      await this.client.send([]);
    } catch (error) {
      if ((error as { statusCode?: number })?.statusCode === 400) return;
      throw classifyEventGridError(stage, `reaching the topic ${this.host}`, error);
    }
  }

  /** Sends the events as one batch; the SDK retries throttling, 5xx and dropped connections before this fails. */
  async publish(stage: string, events: readonly OutgoingCloudEvent[]): Promise<void> {
    if (events.length === 0) return;
    try {
      await this.client.send(events.map(toSendInput));
    } catch (error) {
      throw classifyEventGridError(stage, `publishing ${describeBatch(events)} to ${this.host}`, error);
    }
  }
}

function toSendInput(event: OutgoingCloudEvent): SendCloudEventInput<object> {
  const input: SendCloudEventInput<object> = { id: event.id, type: event.type, source: event.source, time: new Date(event.time), data: event.data, datacontenttype: 'application/json' };
  if (event.subject !== undefined) input.subject = event.subject;
  return input;
}

function describeBatch(events: readonly OutgoingCloudEvent[]): string {
  const ids = events.slice(0, 3).map((e) => e.id).join(', ');
  return `${events.length} event${events.length === 1 ? '' : 's'} (${ids}${events.length > 3 ? ', ...' : ''})`;
}

/** Builds a fresh error from status, code and the service's message: the SDK error holds the request with its key or token. */
export function classifyEventGridError(stage: string, what: string, error: unknown): RotationError {
  if (error instanceof RotationError) return error;
  const { statusCode: status, code, message } = error as { statusCode?: number; code?: string; message?: string };
  const retryable = isTransient(status, code);
  const kind = status === 401 || status === 403 ? 'event-grid-forbidden' : retryable ? 'event-grid-unavailable' : status !== undefined && status >= 400 && status < 500 ? 'event-grid-rejected' : 'event-grid-error';
  const detail = serviceMessage(message ?? String(error));
  return new RotationError({ code: kind, stage, retryable, status, message: `${what} failed: Event Grid ${status ?? code ?? 'error'}${status && code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''}` });
}

/** Event Grid appends a support-ticket sentence with a request id to every message; it says nothing about the cause. */
function serviceMessage(text: string): string {
  return text.replace(/\s*Report '[^']*' to our forums.*$/s, '').replace(/\s+/g, ' ').trim();
}
