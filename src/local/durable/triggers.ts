import { HttpRequest, HttpResponse, type Timer } from '@azure/functions';
import {
  invokeRegistered,
  triggerOf,
  type FunctionRegistry,
  type InvokeOutcome,
  type RegisteredFunction,
  type RpcHttpData,
  type RpcParameterBinding,
  type RpcTypedData,
} from '../functions-core';
import type { RawHttpRequest, RawHttpResponse } from './http-api';
import type { LogSink } from './invoke';

const ROUTE_PREFIX = 'api';

/**
 * Invokes the app's trigger functions as the host would: the trigger payload as typed data
 * and, for functions with a `durableClient` input, the extension's client binding data.
 */
export class TriggerInvoker {
  constructor(
    private readonly registry: FunctionRegistry,
    private readonly clientInputData: () => Promise<Record<string, unknown>>,
    private readonly logSink: (functionName: string) => LogSink,
    private readonly now: () => Date,
  ) {}

  async invoke(functionName: string, triggerData: RpcTypedData | undefined, triggerMetadata: Record<string, RpcTypedData> = {}): Promise<InvokeOutcome> {
    const fn = this.registry.require(functionName);
    const inputData: RpcParameterBinding[] = [{ name: triggerOf(fn).name, data: triggerData }];
    for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
      if (binding.type === 'durableClient' || binding.type === 'orchestrationClient') {
        inputData.push({ name, data: { string: JSON.stringify(await this.clientInputData()) } });
      }
    }
    return invokeRegistered(this.registry, fn, { inputData, triggerMetadata, onLog: this.logSink(functionName) });
  }

  async http(functionName: string, request: HttpRequest): Promise<HttpResponse> {
    const fn = this.expectTrigger(functionName, 'httpTrigger');
    const params = Object.keys(request.params).length > 0 ? request.params : (routeParams(fn, new URL(request.url).pathname) ?? {});
    const outcome = await this.invoke(functionName, { http: await toRpcHttp(request, params) });
    return toHttpResponse(outcome.response.returnValue?.http);
  }

  async timer(functionName: string, timer: Partial<Timer> = {}): Promise<unknown> {
    this.expectTrigger(functionName, 'timerTrigger');
    const now = this.now();
    const status = timer.scheduleStatus ?? { last: new Date(now.getTime() - 86_400_000).toISOString(), next: now.toISOString(), lastUpdated: now.toISOString() };
    // PascalCase, as the host sends it; the library camel-cases timer payloads.
    const payload = {
      Schedule: { AdjustForDST: timer.schedule?.adjustForDST ?? true },
      ScheduleStatus: { Last: status.last, Next: status.next, LastUpdated: status.lastUpdated },
      IsPastDue: timer.isPastDue ?? false,
    };
    return (await this.invoke(functionName, { json: JSON.stringify(payload) })).result;
  }

  async eventGrid(functionName: string, event: unknown): Promise<unknown> {
    this.expectTrigger(functionName, 'eventGridTrigger');
    return (await this.invoke(functionName, { string: JSON.stringify(event) })).result;
  }

  /** Serves `/api/<route>` for the local HTTP endpoint. */
  async serve(request: RawHttpRequest): Promise<RawHttpResponse> {
    const path = new URL(request.url).pathname;
    const match = this.findHttpFunction(request.method, path);
    if (!match) return { status: 404, headers: {} };
    const hasBody = !['GET', 'HEAD'].includes(request.method.toUpperCase()) && request.body.length > 0;
    const httpRequest = new HttpRequest({
      method: request.method,
      url: request.url,
      headers: request.headers,
      params: match.params,
      ...(hasBody ? { body: { bytes: request.body } } : {}),
    });
    const response = await this.http(match.fn.name, httpRequest);
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => (headers[name] = value));
    return { status: response.status, headers, body: new Uint8Array(await response.arrayBuffer()) };
  }

  findHttpFunction(method: string, path: string): { fn: RegisteredFunction; params: Record<string, string> } | undefined {
    for (const fn of this.registry.list()) {
      const trigger = triggerOf(fn);
      if (trigger.type !== 'httpTrigger') continue;
      const methods = (trigger.methods ?? ['GET', 'POST']).map((m) => m.toUpperCase());
      if (!methods.includes(method.toUpperCase())) continue;
      const params = routeParams(fn, path);
      if (params) return { fn, params };
    }
    return undefined;
  }

  private expectTrigger(functionName: string, type: string): RegisteredFunction {
    const fn = this.registry.require(functionName);
    const actual = triggerOf(fn).type;
    if (actual !== type) throw new Error(`Function "${functionName}" is triggered by ${actual}, not ${type}.`);
    return fn;
  }
}

/** Route parameters when `path` (e.g. /api/credentials/x/rotate) matches the function's route template. */
export function routeParams(fn: RegisteredFunction, path: string): Record<string, string> | undefined {
  const template = `${ROUTE_PREFIX}/${triggerOf(fn).route ?? fn.name}`;
  return matchRoute(template, path);
}

export function matchRoute(template: string, path: string): Record<string, string> | undefined {
  const parts = template.split('/').filter((s) => s !== '');
  const segments = path.split('/').filter((s) => s !== '');
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const segment = segments[i];
    const param = /^\{(\*?)([^:?}]+)(?::[^?}]*)?(\?)?\}$/.exec(part);
    if (!param) {
      if (segment === undefined || segment.toLowerCase() !== part.toLowerCase()) return undefined;
      continue;
    }
    const [, catchAll, name, optional] = param;
    if (catchAll) {
      params[name!] = segments.slice(i).map(decodeURIComponent).join('/');
      return params;
    }
    if (segment === undefined) {
      if (optional) continue;
      return undefined;
    }
    params[name!] = decodeURIComponent(segment);
  }
  return segments.length <= parts.length ? params : undefined;
}

async function toRpcHttp(request: HttpRequest, params: Record<string, string>): Promise<RpcHttpData> {
  const method = request.method.toUpperCase();
  const bytes = method === 'GET' || method === 'HEAD' ? undefined : new Uint8Array(await request.arrayBuffer());
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name] = value));
  return {
    method,
    url: request.url,
    headers,
    query: Object.fromEntries(request.query.entries()),
    params,
    ...(bytes && bytes.length > 0 ? { body: { bytes } } : {}),
  };
}

/** The response as it crossed the worker boundary (status, headers, body bytes). */
function toHttpResponse(http: RpcHttpData | undefined): HttpResponse {
  if (!http) return new HttpResponse({ status: 204 });
  const body = http.body?.bytes ?? (http.body?.string !== undefined ? Buffer.from(http.body.string) : undefined);
  return new HttpResponse({
    status: Number(http.statusCode ?? '200'),
    headers: http.headers,
    ...(body && body.length > 0 ? { body: Buffer.from(body) } : {}),
  });
}
