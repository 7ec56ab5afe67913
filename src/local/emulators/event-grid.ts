// Sources: publishing to a custom topic (https://learn.microsoft.com/rest/api/eventgrid/dataplane/publish-cloud-events,
// .../publish-events), `aeg-sas-key` and SAS-token auth (https://learn.microsoft.com/azure/event-grid/authenticate-with-access-keys-shared-access-signatures),
// Entra tokens for https://eventgrid.azure.net (https://learn.microsoft.com/azure/event-grid/authenticate-with-microsoft-entra-id),
// the 1 MB batch and 1 MB event limits (https://learn.microsoft.com/azure/event-grid/quotas-limits),
// CloudEvents 1.0 required attributes (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md).
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { LoopbackEmulator, type EmulatorRequest, type EmulatorResponse } from './loopback-emulator';

/** The topic's `inputSchema`, as Azure names it on the resource. */
export type EventGridInputSchema = 'CloudEventSchemaV1_0' | 'EventGridSchema';
export type EventGridAuthMethod = 'key' | 'sas' | 'bearer';
export type CloudEventExtensionValue = string | number | boolean;

export interface EventGridEmulatorOptions {
  inputSchema?: EventGridInputSchema;
  /** Base64 topic keys (a topic has key1 and key2); random ones by default. */
  keys?: readonly string[];
  /** Bearer tokens accepted as Entra tokens for audience https://eventgrid.azure.net. */
  bearerTokens?: Iterable<string>;
  maxBatchBytes?: number;
  maxEventBytes?: number;
}

export interface ReceivedCloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time?: string;
  subject?: string;
  datacontenttype?: string;
  dataschema?: string;
  data?: T;
  data_base64?: string;
  extensions: Record<string, CloudEventExtensionValue>;
}

export interface ReceivedEventGridEvent<T = unknown> {
  id: string;
  subject: string;
  eventType: string;
  eventTime: string;
  dataVersion: string;
  data: T;
  topic?: string;
  metadataVersion?: string;
}

interface DeliveryBase {
  auth: EventGridAuthMethod;
  at: number;
}

export type EventGridDelivery =
  | (DeliveryBase & { schema: 'CloudEventSchemaV1_0'; events: ReceivedCloudEvent[] })
  | (DeliveryBase & { schema: 'EventGridSchema'; events: ReceivedEventGridEvent[] });

export const EVENT_GRID_API_VERSION = '2018-01-01';
const ONE_MB = 1024 * 1024;
const SCHEMA_NAME: Record<EventGridInputSchema, string> = { CloudEventSchemaV1_0: 'CloudEventV10', EventGridSchema: 'EventGridSchema' };
const STATUS_CODE_NAMES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  408: 'RequestTimeout',
  413: 'RequestEntityTooLarge',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

/** A request the topic refuses; turned into Event Grid's error body by `handle`. */
class Rejection extends Error {
  constructor(readonly status: number, readonly detailCode: string, message: string) {
    super(message);
  }
}

/**
 * A custom topic (`POST /api/events?api-version=2018-01-01`) configured with one input schema.
 * Authenticates with the topic keys, SAS tokens signed with them, or configured bearer tokens;
 * validates the body the way the service does and records what it accepted.
 */
export class EventGridEmulator extends LoopbackEmulator {
  readonly contract = { specs: ['event-grid.json'] };
  readonly inputSchema: EventGridInputSchema;
  readonly keys: readonly string[];
  readonly deliveries: EventGridDelivery[] = [];
  private readonly bearerTokens: Set<string>;
  private readonly maxBatchBytes: number;
  private readonly maxEventBytes: number;

  constructor(options: EventGridEmulatorOptions = {}) {
    super();
    this.inputSchema = options.inputSchema ?? 'CloudEventSchemaV1_0';
    this.keys = options.keys ?? [randomKey(), randomKey()];
    if (this.keys.length === 0) throw new Error('an Event Grid topic needs at least one key');
    this.bearerTokens = new Set(options.bearerTokens ?? []);
    this.maxBatchBytes = options.maxBatchBytes ?? ONE_MB;
    this.maxEventBytes = options.maxEventBytes ?? ONE_MB;
  }

  /** The topic endpoint to hand to `EventGridPublisherClient`. */
  get endpoint(): string {
    return `${this.url}/api/events`;
  }

  get key(): string {
    return this.keys[0];
  }

  acceptBearerToken(token: string): void {
    this.bearerTokens.add(token);
  }

  /** Every accepted CloudEvent, in arrival order. */
  events<T = unknown>(): ReceivedCloudEvent<T>[] {
    return this.deliveries.flatMap((d) => (d.schema === 'CloudEventSchemaV1_0' ? (d.events as ReceivedCloudEvent<T>[]) : []));
  }

  /** Every accepted Event Grid schema event, in arrival order. */
  eventGridEvents<T = unknown>(): ReceivedEventGridEvent<T>[] {
    return this.deliveries.flatMap((d) => (d.schema === 'EventGridSchema' ? (d.events as ReceivedEventGridEvent<T>[]) : []));
  }

  /** The body of every request that reached the topic, accepted or not, faulted or not. */
  rawBodies(): string[] {
    return this.requests.map((r) => r.rawBody);
  }

  protected override handle(req: EmulatorRequest): EmulatorResponse {
    try {
      this.deliveries.push(this.accept(req));
      return { status: 200 };
    } catch (error) {
      if (!(error instanceof Rejection)) throw error;
      const code = STATUS_CODE_NAMES[error.status] ?? String(error.status);
      return { status: error.status, body: errorBody(code, error.detailCode, error.message) };
    }
  }

  /** The 2018-01-01 spec describes one publish overload per input schema, all on the topic endpoint. */
  protected override contractOperation(): string {
    return this.inputSchema === 'CloudEventSchemaV1_0' ? 'PublishCloudEventEvents' : 'PublishEventGridEvents';
  }

  protected override faultBody(status: number, message = `injected fault ${status}`): unknown {
    const code = STATUS_CODE_NAMES[status] ?? String(status);
    return errorBody(code, code, message);
  }

  private accept(req: EmulatorRequest): EventGridDelivery {
    if (req.path !== '/api/events') {
      throw new Rejection(404, 'ResourceNotFound', `No HTTP resource was found that matches the request URI '${this.url}${req.path}'.`);
    }
    if (req.method !== 'POST') throw new Rejection(405, 'MethodNotAllowed', `The requested resource does not support http method '${req.method}'.`);
    const auth = this.authenticate(req);
    checkApiVersion(req.query);
    const shape = this.bodyShape(headerValue(req, 'content-type'));
    if (Buffer.byteLength(req.rawBody) > this.maxBatchBytes) {
      throw new Rejection(413, 'PayloadTooLarge', `The maximum size (${this.maxBatchBytes}) has been exceeded.`);
    }
    const items = this.items(shape, parseJson(req.rawBody));
    this.checkEventSizes(items);
    const at = Date.now();
    return this.inputSchema === 'CloudEventSchemaV1_0'
      ? { schema: this.inputSchema, auth, at, events: items.map((item) => this.cloudEvent(item)) }
      : { schema: this.inputSchema, auth, at, events: items.map((item) => this.eventGridEvent(item)) };
  }

  private authenticate(req: EmulatorRequest): EventGridAuthMethod {
    const key = headerValue(req, 'aeg-sas-key');
    if (key !== undefined) {
      if (this.keys.some((k) => secretEquals(k, key))) return 'key';
      throw this.unauthorized(req, 'The specified access key in aeg-sas-key header is invalid.');
    }
    const authorization = headerValue(req, 'authorization');
    const sas = headerValue(req, 'aeg-sas-token') ?? schemeValue(authorization, 'SharedAccessSignature');
    if (sas !== undefined) {
      this.verifySas(req, sas);
      return 'sas';
    }
    const bearer = schemeValue(authorization, 'Bearer');
    if (bearer !== undefined) {
      if ([...this.bearerTokens].some((t) => secretEquals(t, bearer))) return 'bearer';
      throw this.unauthorized(req, 'The bearer token is invalid or was not issued for https://eventgrid.azure.net.');
    }
    throw this.unauthorized(req, 'The request contains no aeg-sas-key, aeg-sas-token or Authorization header.');
  }

  /** The format `generateSharedAccessSignature` produces: `r=<resource>&e=<M/d/yyyy h:mm:ss tt>&s=<HMAC>`. */
  private verifySas(req: EmulatorRequest, token: string): void {
    const signedPart = token.slice(0, Math.max(0, token.lastIndexOf('&s=')));
    const params = new URLSearchParams(token);
    const [resource, expiresOn, signature] = [params.get('r'), params.get('e'), params.get('s')];
    if (!signedPart || !resource || !expiresOn || !signature) throw this.unauthorized(req, 'The SAS token is malformed.');
    const expiry = parseServiceTime(expiresOn);
    if (expiry === undefined) throw this.unauthorized(req, `The SAS token expiry '${expiresOn}' is not a valid date.`);
    if (expiry <= Date.now()) throw this.unauthorized(req, 'The SAS token has expired.');
    if (!resource.toLowerCase().startsWith(this.endpoint.toLowerCase())) throw this.unauthorized(req, `The SAS token is for another resource: '${resource}'.`);
    const valid = this.keys.some((k) => secretEquals(createHmac('sha256', Buffer.from(k, 'base64')).update(signedPart).digest('base64'), signature));
    if (!valid) throw this.unauthorized(req, 'The SAS token signature is invalid.');
  }

  private unauthorized(req: EmulatorRequest, reason: string): Rejection {
    const host = (headerValue(req, 'host') ?? '127.0.0.1').toUpperCase();
    return new Rejection(401, 'Unauthorized', `The request authorization key is not authorized for ${host}. This is due to the reason: ${reason}`);
  }

  /** Whether the body must be a JSON array (a batch) or a single object (structured mode). */
  private bodyShape(contentType: string | undefined): 'array' | 'object' {
    const mediaType = parseMediaType(contentType);
    const cloudEvents = this.inputSchema === 'CloudEventSchemaV1_0';
    if (mediaType === 'application/cloudevents-batch+json' || mediaType === 'application/cloudevents+json') {
      if (!cloudEvents) throw this.notConforming(`The content type '${contentType}' is for CloudEvents.`);
      return mediaType === 'application/cloudevents+json' ? 'object' : 'array';
    }
    if (mediaType === 'application/json') return cloudEvents ? 'object' : 'array';
    throw new Rejection(
      400,
      'InvalidContentType',
      cloudEvents
        ? `The Content-Type header '${contentType ?? ''}' is invalid. It must be application/cloudevents+json; charset=utf-8 or application/cloudevents-batch+json; charset=utf-8.`
        : `The Content-Type header '${contentType ?? ''}' is invalid. It must be application/json.`,
    );
  }

  private items(shape: 'array' | 'object', body: unknown): unknown[] {
    const isArray = Array.isArray(body);
    if (shape === 'object' && isArray) throw this.notConforming('Token Expected: StartObject, Actual Token Received: StartArray.');
    if (shape === 'array' && !isArray) throw this.notConforming(`Token Expected: StartArray, Actual Token Received: ${tokenName(body)}.`);
    const items = isArray ? body : [body];
    if (items.length === 0) throw this.notConforming('The array contains no events.');
    return items;
  }

  private checkEventSizes(items: unknown[]): void {
    items.forEach((item, index) => {
      const size = Buffer.byteLength(JSON.stringify(item));
      if (size > this.maxEventBytes) {
        throw new Rejection(413, 'PayloadTooLarge', `Event ${index} is ${size} bytes; the maximum size (${this.maxEventBytes}) has been exceeded.`);
      }
    });
  }

  private cloudEvent(item: unknown): ReceivedCloudEvent {
    const fields = this.object(item);
    const requireString = (name: string) => this.requiredString(fields, name);
    if (requireString('specversion') !== '1.0') throw this.invalid(`'specversion' must be '1.0', not '${String(fields.specversion)}'.`);
    const event: ReceivedCloudEvent = { specversion: '1.0', id: requireString('id'), source: requireString('source'), type: requireString('type'), extensions: {} };
    this.copyOptionalCloudEventAttributes(fields, event);
    this.copyCloudEventData(fields, event);
    event.extensions = this.extensions(fields);
    return event;
  }

  private copyOptionalCloudEventAttributes(fields: Record<string, unknown>, event: ReceivedCloudEvent): void {
    const time = this.optionalString(fields, 'time');
    if (time !== undefined && !isRfc3339(time)) throw this.invalid(`'time' must be an RFC 3339 timestamp, not '${time}'.`);
    const dataschema = this.optionalString(fields, 'dataschema');
    if (dataschema !== undefined && !isAbsoluteUri(dataschema)) throw this.invalid(`'dataschema' must be an absolute URI, not '${dataschema}'.`);
    const optional = { time, dataschema, subject: this.optionalString(fields, 'subject'), datacontenttype: this.optionalString(fields, 'datacontenttype') };
    for (const [name, value] of Object.entries(optional)) if (value !== undefined) Object.assign(event, { [name]: value });
  }

  private copyCloudEventData(fields: Record<string, unknown>, event: ReceivedCloudEvent): void {
    const hasData = fields.data !== undefined && fields.data !== null;
    const base64 = this.optionalString(fields, 'data_base64');
    if (hasData && base64 !== undefined) throw this.invalid(`An event must not have both 'data' and 'data_base64'.`);
    if (base64 !== undefined && !isBase64(base64)) throw this.invalid(`'data_base64' is not valid base64.`);
    if (hasData) event.data = fields.data;
    if (base64 !== undefined) event.data_base64 = base64;
  }

  private extensions(fields: Record<string, unknown>): Record<string, CloudEventExtensionValue> {
    const extensions: Record<string, CloudEventExtensionValue> = {};
    for (const [name, value] of Object.entries(fields)) {
      if (CLOUD_EVENT_ATTRIBUTES.has(name) || value === null) continue;
      if (!/^[a-z0-9]+$/.test(name)) throw this.invalid(`The extension attribute name '${name}' must consist of lower-case letters and digits only.`);
      if (!isExtensionValue(value)) throw this.invalid(`The extension attribute '${name}' must be a string, a boolean or a 32-bit integer.`);
      extensions[name] = value;
    }
    return extensions;
  }

  private eventGridEvent(item: unknown): ReceivedEventGridEvent {
    const fields = this.object(item);
    const required = (name: string) => this.requiredString(fields, name);
    const event: ReceivedEventGridEvent = {
      id: required('id'),
      subject: required('subject'),
      eventType: required('eventType'),
      eventTime: required('eventTime'),
      dataVersion: this.string(fields, 'dataVersion', true) ?? '',
      data: fields.data,
    };
    if (fields.dataVersion === undefined) throw this.missing('dataVersion');
    if (!isRfc3339(event.eventTime)) throw this.invalid(`'eventTime' must be an RFC 3339 timestamp, not '${event.eventTime}'.`);
    if (!('data' in fields)) throw this.missing('data');
    const topic = this.optionalString(fields, 'topic');
    const metadataVersion = this.optionalString(fields, 'metadataVersion');
    if (metadataVersion !== undefined && metadataVersion !== '1') throw this.invalid(`'metadataVersion' must be '1', not '${metadataVersion}'.`);
    return { ...event, ...(topic !== undefined ? { topic } : {}), ...(metadataVersion !== undefined ? { metadataVersion } : {}) };
  }

  private object(item: unknown): Record<string, unknown> {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw this.notConforming(`Token Expected: StartObject, Actual Token Received: ${tokenName(item)}.`);
    }
    return item as Record<string, unknown>;
  }

  private requiredString(fields: Record<string, unknown>, name: string): string {
    const value = this.string(fields, name, false);
    if (value === undefined) throw this.missing(name);
    return value;
  }

  private optionalString(fields: Record<string, unknown>, name: string): string | undefined {
    return fields[name] === null ? undefined : this.string(fields, name, false);
  }

  private string(fields: Record<string, unknown>, name: string, allowEmpty: boolean): string | undefined {
    const value = fields[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw this.invalid(`'${name}' must be a string, not ${value === null ? 'null' : typeof value}.`);
    if (!allowEmpty && value === '') throw this.invalid(`'${name}' must not be empty.`);
    return value;
  }

  private missing(name: string): Rejection {
    return new Rejection(400, 'InputJsonInvalid', `This resource is configured for '${SCHEMA_NAME[this.inputSchema]}' schema and requires '${name}' property to be set.`);
  }

  private invalid(problem: string): Rejection {
    return new Rejection(400, 'InputJsonInvalid', `This resource is configured for '${SCHEMA_NAME[this.inputSchema]}' schema. ${problem}`);
  }

  private notConforming(problem: string): Rejection {
    return new Rejection(
      400,
      'InputJsonInvalid',
      `This resource is configured to receive event in '${SCHEMA_NAME[this.inputSchema]}' schema. The JSON received does not conform to the expected schema. ${problem}`,
    );
  }
}

const CLOUD_EVENT_ATTRIBUTES = new Set(['specversion', 'id', 'source', 'type', 'time', 'datacontenttype', 'dataschema', 'subject', 'data', 'data_base64']);
const RFC_3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

function randomKey(): string {
  return randomBytes(32).toString('base64');
}

function errorBody(code: string, detailCode: string, message: string): unknown {
  const full = `${message}${reportSuffix()}`;
  return { error: { code, message: full, details: [{ code: detailCode, message: full }] } };
}

/** Every Event Grid error message ends with this, naming a request id and the time. */
function reportSuffix(): string {
  return ` Report '${randomUUID()}:1:${serviceTime(new Date())} (UTC)' to our forums for assistance or raise a support ticket.`;
}

function checkApiVersion(query: URLSearchParams): void {
  const version = query.get('api-version');
  if (version === EVENT_GRID_API_VERSION) return;
  throw new Rejection(
    400,
    'InvalidApiVersion',
    version === null
      ? `The api-version query parameter is required; supported versions: '${EVENT_GRID_API_VERSION}'.`
      : `The api-version '${version}' is invalid; supported versions: '${EVENT_GRID_API_VERSION}'.`,
  );
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new Rejection(400, 'InputJsonInvalid', `The request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}.`);
  }
}

function headerValue(req: EmulatorRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function schemeValue(authorization: string | undefined, scheme: string): string | undefined {
  const match = /^(\S+)\s+(.+)$/.exec(authorization ?? '');
  return match && match[1].toLowerCase() === scheme.toLowerCase() ? match[2].trim() : undefined;
}

/** The media type in lower case, or undefined when a charset other than UTF-8 is declared. */
function parseMediaType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const [mediaType, ...params] = contentType.split(';').map((part) => part.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  return charset === undefined || charset === 'utf-8' ? mediaType : undefined;
}

function tokenName(value: unknown): string {
  if (Array.isArray(value)) return 'StartArray';
  if (value === null) return 'Null';
  if (typeof value === 'object') return 'StartObject';
  return typeof value === 'string' ? 'String' : typeof value === 'number' ? 'Number' : 'Boolean';
}

function secretEquals(expected: string, actual: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(actual);
  return a.length === b.length && timingSafeEqual(a, b);
}

function isRfc3339(value: string): boolean {
  const m = RFC_3339.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const offsetOk = m[8] === undefined || (Number(m[8]) <= 23 && Number(m[9]) <= 59);
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 60 && offsetOk;
}

function isAbsoluteUri(value: string): boolean {
  try {
    return new URL(value).protocol.length > 1;
  } catch {
    return false;
  }
}

function isBase64(value: string): boolean {
  return value.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(value);
}

function isExtensionValue(value: unknown): value is CloudEventExtensionValue {
  if (typeof value === 'string' || typeof value === 'boolean') return true;
  return typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31;
}

/** .NET's "M/d/yyyy h:mm:ss tt" in UTC, the format of SAS expiries and error reports. */
function serviceTime(d: Date): string {
  const hour = d.getUTCHours() % 12 === 0 ? 12 : d.getUTCHours() % 12;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${hour}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCHours() >= 12 ? 'PM' : 'AM'}`;
}

function parseServiceTime(value: string): number | undefined {
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) (AM|PM)$/.exec(value);
  if (!m) return undefined;
  const [month, day, year, hour12, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || hour12 < 1 || hour12 > 12) return undefined;
  const hour = (hour12 % 12) + (m[7] === 'PM' ? 12 : 0);
  return Date.UTC(year, month - 1, day, hour, minute, second);
}
