import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InstanceExistsError, InvalidInstanceIdError, UnknownOrchestratorError } from './errors';

/**
 * The Durable extension's client HTTP API on 127.0.0.1: the internal RPC endpoint
 * (`rpcBaseUrl`, which durable-functions v3's DurableClient calls for every operation) and
 * the public webhook routes (`/runtime/webhooks/durabletask`, guarded by the system key,
 * which createCheckStatusResponse links to). `/api/*` serves the app's HTTP triggers.
 */

export type Outcome = 'accepted' | 'notFound' | 'gone';

export interface RawHttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface RawHttpResponse {
  status: number;
  headers: Record<string, string>;
  body?: Uint8Array;
}

export interface DurableApiBackend {
  readonly taskHubName: string;
  readonly systemKey: string;
  startNew(name: string, instanceId: string | undefined, input: unknown): Promise<string>;
  status(instanceId: string, showHistory: boolean, showInput: boolean): { running: boolean; body: Record<string, unknown> } | undefined;
  list(): Record<string, unknown>[];
  raiseEvent(instanceId: string, eventName: string, data: unknown): Outcome;
  terminate(instanceId: string, reason: string | undefined): Outcome;
  purge(instanceId: string): number;
  handleApp(request: RawHttpRequest): Promise<RawHttpResponse>;
}

const RPC_BASE = '/durabletask/';
const WEBHOOK_BASE = '/runtime/webhooks/durabletask/';
const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8' };

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

export class DurableHttpApi {
  private server: Server | undefined;
  private port: number | undefined;

  constructor(private readonly backend: DurableApiBackend) {}

  async listen(): Promise<string> {
    if (this.port === undefined) {
      const server = createServer((req, res) => void this.handle(req, res));
      this.server = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      this.port = (server.address() as AddressInfo).port;
    }
    return this.origin();
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.port = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The `durableClient` binding data the extension hands to a trigger. */
  clientInputData(): Record<string, unknown> {
    const origin = this.origin();
    const base = `${origin}${WEBHOOK_BASE.slice(0, -1)}`;
    const key = this.backend.systemKey;
    return {
      taskHubName: this.backend.taskHubName,
      creationUrls: {
        createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?code=${key}`,
        createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=${key}`,
      },
      managementUrls: this.managementPayload('INSTANCEID', origin),
      baseUrl: base,
      requiredQueryStringParameters: `code=${key}`,
      rpcBaseUrl: `${origin}${RPC_BASE}`,
      httpBaseUrl: base,
    };
  }

  private origin(): string {
    if (this.port === undefined) throw new Error('The durable HTTP API is not listening: call listen() first.');
    return `http://127.0.0.1:${this.port}`;
  }

  private managementPayload(instanceId: string, origin: string): Record<string, string> {
    const base = `${origin}${WEBHOOK_BASE}instances/${instanceId}`;
    const query = `taskHub=${this.backend.taskHubName}&connection=Storage&code=${this.backend.systemKey}`;
    return {
      id: instanceId,
      purgeHistoryDeleteUri: `${base}?${query}`,
      sendEventPostUri: `${base}/raiseEvent/{eventName}?${query}`,
      statusQueryGetUri: `${base}?${query}`,
      terminatePostUri: `${base}/terminate?reason={text}&${query}`,
      resumePostUri: `${base}/resume?reason={text}&${query}`,
      suspendPostUri: `${base}/suspend?reason={text}&${query}`,
      rewindPostUri: `${base}/rewind?reason={text}&${query}`,
      restartPostUri: `${base}/restart?${query}`,
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
      const body = await readBody(req);
      if (url.pathname.startsWith('/api/')) return await this.serveApp(req, url, body, res);
      const reply = await this.route(req.method ?? 'GET', url, body, headerOf(req, 'content-type'));
      send(res, reply);
    } catch (err) {
      send(res, { status: 500, body: { Message: 'Something went wrong while processing your request', ExceptionMessage: messageOf(err) } });
    }
  }

  private async serveApp(req: IncomingMessage, url: URL, body: Uint8Array, res: ServerResponse): Promise<void> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = String(value);
    const reply = await this.backend.handleApp({ method: req.method ?? 'GET', url: url.href, headers, body });
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body ? Buffer.from(reply.body) : undefined);
  }

  private async route(method: string, url: URL, body: Uint8Array, contentType: string): Promise<Reply> {
    let rest: string;
    if (url.pathname.startsWith(RPC_BASE)) rest = url.pathname.slice(RPC_BASE.length);
    else if (url.pathname.startsWith(WEBHOOK_BASE)) {
      if (url.searchParams.get('code') !== this.backend.systemKey) return { status: 401 };
      rest = url.pathname.slice(WEBHOOK_BASE.length);
    } else return { status: 404 };
    const segments = rest.split('/').filter((s) => s !== '').map(decodeURIComponent);
    if (segments[0] === 'orchestrators' && method === 'POST' && (segments.length === 2 || segments.length === 3)) {
      return this.start(segments[1]!, segments[2], body, url);
    }
    if (segments[0] === 'instances') return this.instances(method, segments.slice(1), url, body, contentType);
    return { status: 404 };
  }

  private async start(name: string, instanceId: string | undefined, body: Uint8Array, url: URL): Promise<Reply> {
    let input: unknown;
    try {
      input = body.length > 0 ? JSON.parse(Buffer.from(body).toString('utf8')) : undefined;
    } catch (err) {
      return badRequest('Invalid JSON content', err);
    }
    try {
      const id = await this.backend.startNew(name, instanceId, input);
      const payload = this.managementPayload(id, url.origin);
      return { status: 202, body: payload, headers: { Location: payload.statusQueryGetUri!, 'Retry-After': '10' } };
    } catch (err) {
      // HttpApiHandler.cs answers every ArgumentException (an unknown function, a refused id) with 400.
      if (err instanceof UnknownOrchestratorError || err instanceof InvalidInstanceIdError) return badRequest('One or more of the arguments submitted is incorrect', err);
      if (err instanceof InstanceExistsError) {
        return { status: 500, body: { Message: 'Something went wrong while processing your request', ExceptionMessage: err.message } };
      }
      throw err;
    }
  }

  private instances(method: string, segments: string[], url: URL, body: Uint8Array, contentType: string): Reply {
    const [instanceId, operation, eventName] = segments;
    if (instanceId === undefined) return method === 'GET' ? { status: 200, body: this.backend.list() } : { status: 404 };
    if (operation === undefined) {
      if (method === 'GET') return this.status(instanceId, url);
      if (method === 'DELETE') {
        const deleted = this.backend.purge(instanceId);
        return deleted === 0 ? { status: 404 } : { status: 200, body: { instancesDeleted: deleted } };
      }
      return { status: 404 };
    }
    if (method !== 'POST') return { status: 404 };
    if (operation === 'raiseEvent' && eventName !== undefined) return this.raiseEvent(instanceId, eventName, body, contentType);
    if (operation === 'terminate') return outcomeReply(this.backend.terminate(instanceId, url.searchParams.get('reason') ?? undefined));
    if (['suspend', 'resume', 'rewind', 'restart'].includes(operation)) {
      return { status: 501, body: { Message: `The ${operation} operation is not supported by the local durable host.` } };
    }
    return { status: 404 };
  }

  private status(instanceId: string, url: URL): Reply {
    const flag = (name: string, fallback: boolean): boolean => (url.searchParams.get(name) ?? String(fallback)).toLowerCase() === 'true';
    const found = this.backend.status(instanceId, flag('showHistory', false), flag('showInput', true));
    if (!found) return { status: 404 };
    if (!found.running) return { status: 200, body: found.body };
    return { status: 202, body: found.body, headers: { Location: url.href, 'Retry-After': '5' } };
  }

  private raiseEvent(instanceId: string, eventName: string, body: Uint8Array, contentType: string): Reply {
    if (!contentType.toLowerCase().startsWith('application/json')) return badRequest('Only application/json request content is supported');
    let data: unknown;
    try {
      data = body.length > 0 ? JSON.parse(Buffer.from(body).toString('utf8')) : undefined;
    } catch (err) {
      return badRequest('Invalid JSON content', err);
    }
    return outcomeReply(this.backend.raiseEvent(instanceId, eventName, data));
  }
}

function outcomeReply(outcome: Outcome): Reply {
  return { status: outcome === 'accepted' ? 202 : outcome === 'gone' ? 410 : 404 };
}

function badRequest(message: string, err?: unknown): Reply {
  return { status: 400, body: { Message: message, ...(err === undefined ? {} : { ExceptionMessage: messageOf(err) }) } };
}

function send(res: ServerResponse, reply: Reply): void {
  const hasBody = reply.body !== undefined;
  res.writeHead(reply.status, { ...(hasBody ? JSON_HEADERS : {}), ...reply.headers });
  res.end(hasBody ? JSON.stringify(reply.body) : undefined);
}

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function headerOf(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
