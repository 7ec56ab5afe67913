// Sources for the fault shapes every emulator can inject: 429/503 with Retry-After as Azure
// services send them (https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling),
// and what the Azure SDK pipeline retries (408, 5xx, connection resets;
// https://learn.microsoft.com/javascript/api/@azure/core-rest-pipeline/exponentialretrypolicyoptions).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { loopbackCertificate } from '../tls';

export interface EmulatorRequest {
  method: string;
  /** Path without the query string, percent-decoded per segment by the emulator that needs it. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  rawBody: string;
}

export interface EmulatorResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** A fault answers instead of the emulator, or delays it, for requests it matches. */
export interface Fault {
  match?: (req: EmulatorRequest) => boolean;
  /** How many matching requests it affects; default 1. */
  times?: number;
  status?: number;
  retryAfterSeconds?: number;
  /** Extra response headers, e.g. the `WWW-Authenticate` challenge of a 401 for an expired token. */
  headers?: Record<string, string>;
  body?: unknown;
  delayMs?: number;
  /** Destroy the socket without answering (the client sees ECONNRESET). */
  drop?: boolean;
}

/**
 * The published API description an emulator answers for: file names under test/contracts/,
 * or, for a service that publishes none, why not. Tests hold every exchange to it.
 */
export type EmulatorContract = { specs: string[] } | { none: string };

/** One request and the response the emulator wrote for it (headers as sent). */
export interface Exchange {
  emulator: string;
  contract: EmulatorContract;
  /** The spec operation, when the path alone cannot tell (see `contractOperation`). */
  operationId?: string;
  request: EmulatorRequest;
  response: EmulatorResponse & { headers: Record<string, string> };
  faulted: boolean;
}

export interface ExchangeObserver {
  /** Once an emulator listens, before any client can reach it (to prepare without delaying answers). */
  started?(emulator: { name: string; contract: EmulatorContract }): void | Promise<void>;
  exchange(exchange: Exchange): void | Promise<void>;
}

const observers = new Set<ExchangeObserver>();

/**
 * Sees every exchange of every emulator before the client gets the response. The test
 * harness installs the contract validator here; production code installs nothing.
 */
export function observeExchanges(observer: ExchangeObserver): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

export interface RecordedRequest extends EmulatorRequest {
  status: number;
  at: number;
  faulted: boolean;
}

/**
 * A strict server on 127.0.0.1 with a random port, a request log, and a fault queue: HTTPS
 * (the Azure and GitHub services) or plain HTTP (the managed-identity endpoint, which is
 * HTTP on the real platform too). Subclasses implement `handle`; everything unknown must be
 * rejected the way the real service rejects it.
 */
export abstract class LoopbackEmulator {
  readonly requests: RecordedRequest[] = [];
  private readonly faults: Array<Fault & { remaining: number }> = [];
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  constructor(private readonly protocol: 'https' | 'http' = 'https') {}

  get url(): string {
    if (!this.server) throw new Error(`${this.constructor.name} is not started`);
    return `${this.protocol}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const listener = (req: IncomingMessage, res: ServerResponse) => void this.dispatch(req, res);
    const tls = this.protocol === 'https' ? await loopbackCertificate() : undefined;
    const server: Server = tls ? createHttpsServer({ key: tls.key, cert: tls.cert }, listener) : createHttpServer(listener);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('emulator has no TCP address');
    this.port = address.port;
    this.server = server;
    for (const observer of observers) await observer.started?.({ name: this.constructor.name, contract: this.contract });
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  inject(fault: Fault): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** The API description this emulator is held to. */
  abstract readonly contract: EmulatorContract;

  protected abstract handle(req: EmulatorRequest): Promise<EmulatorResponse> | EmulatorResponse;

  /** The spec's operationId for a request whose path and method match several operations. */
  protected contractOperation(_req: EmulatorRequest): string | undefined {
    return undefined;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const request: EmulatorRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, rawBody };
    const fault = this.takeFault(request);
    if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (fault?.drop) {
      this.requests.push({ ...request, status: 0, at: Date.now(), faulted: true });
      req.socket.destroy();
      return;
    }
    let response: EmulatorResponse;
    let faulted = false;
    if (fault?.status !== undefined) {
      faulted = true;
      response = { status: fault.status, body: fault.body ?? this.faultBody(fault.status), headers: { ...fault.headers, ...(fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {}) } };
    } else {
      try {
        response = await this.handle(request);
      } catch (error) {
        response = { status: 500, body: this.faultBody(500, error instanceof Error ? error.message : String(error)) };
      }
    }
    this.requests.push({ ...request, status: response.status, at: Date.now(), faulted });
    const headers: Record<string, string> = { ...(response.headers ?? {}) };
    let payload = '';
    if (response.body !== undefined) {
      payload = typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
      headers['content-type'] ??= 'application/json; charset=utf-8';
    }
    headers['content-length'] = String(Buffer.byteLength(payload));
    await this.report({ emulator: this.constructor.name, contract: this.contract, operationId: this.contractOperation(request), request, response: { ...response, headers }, faulted });
    res.writeHead(response.status, headers);
    res.end(payload);
  }

  private async report(exchange: Exchange): Promise<void> {
    for (const observer of observers) await observer.exchange(exchange);
  }

  /** The error body the real service sends for a status; subclasses override for their shape. */
  protected faultBody(status: number, message = `injected fault ${status}`): unknown {
    return { error: { code: String(status), message } };
  }

  private takeFault(req: EmulatorRequest): Fault | undefined {
    const index = this.faults.findIndex((f) => f.remaining > 0 && (f.match?.(req) ?? true));
    if (index < 0) return undefined;
    const fault = this.faults[index];
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function json(status: number, body: unknown, headers?: Record<string, string>): EmulatorResponse {
  return { status, body, headers };
}
