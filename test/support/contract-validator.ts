import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Ajv from 'ajv';
import type { ErrorObject } from 'ajv';
import type OpenAPIBackend from 'openapi-backend';
import type { Operation } from 'openapi-backend';
import type { EmulatorContract, Exchange } from '../../src/local/emulators/loopback-emulator';
import { BODY_DEVIATIONS, DEVIATIONS, PATH_DEVIATIONS, QUERY_DEVIATIONS, STATUS_DEVIATIONS, type Deviation } from './contract-deviations';

/**
 * Where a description may live. GitHub's comes from an npm package and is vendored here;
 * Azure's come from the Azure REST API specs repository, which this workplace lets no
 * developer commit: they are read from the steering repository's `shared/contracts/`, laid
 * beside every checkout and CI clone, once it holds them (test/contracts/README.md).
 */
const CONTRACT_DIRS = [join(__dirname, '..', 'contracts'), join(__dirname, '..', '..', '..', 'shared', 'contracts')];

function contractPath(file: string): string | undefined {
  return CONTRACT_DIRS.map((dir) => join(dir, file)).find((path) => existsSync(path));
}

/** The contract's specs that are present on this machine (see CONTRACT_DIRS). */
export function availableSpecs(contract: EmulatorContract): string[] {
  return 'none' in contract ? [] : contract.specs.filter((file) => contractPath(file) !== undefined);
}

interface Libraries {
  Ajv: typeof Ajv;
  addFormats: (ajv: Ajv) => Ajv;
  OpenAPIBackend: typeof OpenAPIBackend;
  convertObj: typeof import('swagger2openapi').convertObj;
}

/** Loaded on the first emulator start only, so test files without emulators do not pay for them. */
let libraries: Libraries | undefined;
async function loadLibraries(): Promise<Libraries> {
  if (!libraries) {
    const [ajv, formats, backend, converter] = await Promise.all([import('ajv'), import('ajv-formats'), import('openapi-backend'), import('swagger2openapi')]);
    libraries = { Ajv: defaultExport(ajv), addFormats: defaultExport(formats), OpenAPIBackend: defaultExport(backend), convertObj: converter.convertObj };
  }
  return libraries;
}

/** A CommonJS module's `exports.default`, however the loader wrapped it. */
function defaultExport<T>(module: unknown): T {
  let value = module as { default?: unknown };
  while (typeof value === 'object' && value !== null && 'default' in value && value.default !== undefined) value = value.default as { default?: unknown };
  return value as T;
}

type Json = Record<string, unknown>;

interface Spec {
  file: string;
  /** ARM matches paths case-insensitively; the data planes and GitHub do not. */
  caseInsensitive: boolean;
  api: OpenAPIBackend;
  document: Json;
}

/** A spec operation a request matched, with the request path spelled as the spec spells it. */
interface Match {
  spec: Spec;
  operation: Operation;
  path: string;
}

/**
 * Holds emulator exchanges to the vendored API descriptions (test/contracts/) with
 * openapi-backend, a maintained OpenAPI 3 validator; Azure's Swagger 2.0 files are converted
 * with swagger2openapi when first used. Violations are collected for the test harness to
 * assert on; nothing here changes what the emulator answers.
 */
export class ContractValidator {
  private readonly specs = new Map<string, Promise<Spec[]>>();
  private found: string[] = [];

  /**
   * Loads the contract's specs and compiles every operation's body and parameter validators
   * when the emulator starts: compiling on first use would delay that answer and shift
   * timing-sensitive tests. (Header validators are tiny and compile on first use.)
   */
  async prepare(contract: EmulatorContract): Promise<void> {
    for (const file of availableSpecs(contract)) {
      for (const spec of await this.load(file)) {
        for (const { operationId } of spec.api.getOperations()) {
          if (!operationId) continue;
          spec.api.validator.getRequestValidatorsForOperation(operationId);
          spec.api.validator.getStatusBasedResponseValidatorForOperation(operationId);
        }
      }
    }
  }

  /** The violations recorded since the last call, which are then forgotten. */
  take(): string[] {
    const taken = this.found;
    this.found = [];
    return taken;
  }

  async check(exchange: Exchange): Promise<void> {
    try {
      this.found.push(...(await this.violations(exchange)));
    } catch (error) {
      this.found.push(`${exchange.emulator} ${exchange.request.method} ${exchange.request.path}: the contract check itself failed: ${error instanceof Error ? error.stack : String(error)}`);
    }
  }

  private async violations(exchange: Exchange): Promise<string[]> {
    const { contract, request, response } = exchange;
    const files = availableSpecs(contract);
    if (files.length === 0) return [];
    const specs = (await Promise.all(files.map((file) => this.load(file)))).flat();
    const match = matchOperation(specs, request.method, request.path, exchange.operationId);
    const what = `${exchange.emulator} ${request.method} ${request.path} → ${response.status}`;
    if (!match) {
      // An unrouted URI answered with the service's not-found/not-allowed error is the emulator being strict.
      if ([400, 404, 405].includes(response.status)) return [];
      return [`${what}: no operation in ${files.join(', ')} matches this request; vendor the operation (add it to scripts/trim-contracts.ts and re-run it) or route it elsewhere`];
    }
    const label = `${what} [${match.spec.file} ${match.operation.operationId}]`;
    const problems = [...this.requestProblems(match, exchange), ...this.responseProblems(match, exchange)];
    return problems.map((p) => `${label}: ${p}`);
  }

  private requestProblems(match: Match, exchange: Exchange): string[] {
    const { request, response } = exchange;
    // A request the emulator refused is the emulator being as strict as the service (or stricter).
    if (response.status >= 400) return [];
    const query: Record<string, string | string[]> = {};
    for (const key of new Set(request.query.keys())) {
      const values = request.query.getAll(key);
      query[key] = values.length === 1 ? values[0] : values;
    }
    const contentType = request.headers['content-type'] ?? '';
    const adapter = BODY_DEVIATIONS.find((d) => d.spec === match.spec.file && d.operationId === match.operation.operationId && d.contentType.test(contentType));
    const body = parseBody(contentType, request.rawBody);
    const result = match.spec.api.validator.validateRequest(
      { method: request.method.toLowerCase(), path: match.path, query, headers: request.headers as Record<string, string | string[]>, body: adapter ? adapter.adapt(body) : body },
      match.operation,
    );
    const errors = (result.errors ?? []).filter((e) => !QUERY_DEVIATIONS.some((d) => d.spec === match.spec.file && d.allows(match.operation, e)));
    return errors.map((e) => `request ${describe(e, 'request')}`);
  }

  private responseProblems(match: Match, exchange: Exchange): string[] {
    const { response } = exchange;
    const responses = (match.operation.responses ?? {}) as Record<string, { content?: Record<string, unknown> }>;
    const key = [String(response.status), `${Math.floor(response.status / 100)}XX`, 'default'].find((k) => k in responses);
    if (key === undefined) return this.undescribedStatus(match, exchange);
    const problems: string[] = [];
    const headers = match.spec.api.validator.validateResponseHeaders(response.headers, match.operation, { statusCode: response.status });
    problems.push(...(headers.errors ?? []).map((e) => `response ${describe(e, 'headers')}`));
    const body = responseBody(response);
    if (body.problem) problems.push(body.problem);
    else if (!responses[key].content) {
      // openapi-backend would fall back to the `default` schema. A success described without content has
      // no body; an error described without a schema (Event Grid's, ARM's 404) leaves its body undescribed.
      if (body.value !== null && response.status < 400) problems.push(`response body: the ${key} response is described without a body, got a ${jsonType(body.value)} body`);
    } else {
      const result = match.spec.api.validator.validateResponse(body.value, match.operation, response.status);
      const errors = (result.errors ?? []).filter((e) => !allowed(match, e));
      problems.push(...errors.map((e) => `response body ${describe(e, 'body')}`));
    }
    return problems;
  }

  /** A status the operation does not describe is a violation unless a listed deviation allows it. */
  private undescribedStatus(match: Match, exchange: Exchange): string[] {
    const { response } = exchange;
    const deviation = STATUS_DEVIATIONS.find((d) => d.spec === match.spec.file && d.statuses.includes(response.status) && (!d.operations || d.operations.includes(match.operation.operationId ?? '')));
    if (!deviation) return [`status ${response.status} is not among the operation's responses (${Object.keys(match.operation.responses ?? {}).join(', ')})`];
    const schema = componentSchema(match.spec.document, deviation.schema);
    const body = responseBody(response);
    if (body.problem) return [body.problem];
    const validate = sharedAjv({ strict: false, verbose: true, allErrors: true }).compile({ ...schema, components: (match.spec.document as { components?: unknown }).components });
    return validate(body.value) ? [] : (validate.errors ?? []).map((e) => `response body (${deviation.schema}) ${describe(e, 'body')}`);
  }

  private load(file: string): Promise<Spec[]> {
    let loading = this.specs.get(file);
    if (!loading) {
      loading = loadSpec(file);
      this.specs.set(file, loading);
    }
    return loading;
  }
}

async function loadSpec(file: string): Promise<Spec[]> {
  const { OpenAPIBackend } = await loadLibraries();
  const raw = JSON.parse(readFileSync(contractPath(file) ?? file, 'utf8')) as Json;
  const caseInsensitive = raw.host === 'management.azure.com';
  const documents = raw.swagger ? await Promise.all(overloads(raw).map(toOpenApi3)) : [raw];
  return Promise.all(
    documents.map(async (document) => {
      const api = new OpenAPIBackend({
        definition: document as never,
        strict: true,
        quick: true,
        ignoreTrailingSlashes: false,
        ajvOpts: { verbose: true, allErrors: true },
        customizeAjv: (_fresh, options) => sharedAjv(options),
      });
      await api.init();
      return { file, caseInsensitive, api, document };
    }),
  );
}

/**
 * Azure's Event Grid data plane describes its publish operations as `x-ms-paths` overloads
 * (`?overload=cloudEvent`, …) of the topic endpoint, which the service serves at `/api/events`
 * (https://learn.microsoft.com/rest/api/eventgrid/dataplane/publish-cloud-events). Each overload
 * becomes a document of its own; the emulator names the one it serves.
 */
function overloads(raw: Json): Json[] {
  const extra = raw['x-ms-paths'] as Record<string, unknown> | undefined;
  if (!extra) return [raw];
  const { 'x-ms-paths': _overloads, ...rest } = raw;
  return Object.values(extra).map((item) => ({ ...rest, paths: { '/api/events': item } }));
}

async function toOpenApi3(swagger: Json): Promise<Json> {
  const { openapi } = await (await loadLibraries()).convertObj(swagger as never, { patch: true, warnOnly: true });
  return jsonAliases(typedNullables(openapi as unknown as Json) as Json);
}

/**
 * Swagger's `x-nullable` becomes OpenAPI's `nullable`, which ajv accepts only beside a `type`;
 * on an untyped schema (Key Vault's `Error`) it is spelled as "this, or null" instead.
 */
function typedNullables(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(typedNullables);
  if (node === null || typeof node !== 'object') return node;
  const { nullable, ...rest } = node as Json;
  const walked = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, typedNullables(v)]));
  if (nullable === undefined || 'type' in rest) return nullable === undefined ? walked : { ...walked, nullable };
  return nullable === true ? { anyOf: [walked, { type: 'null' }] } : walked;
}

/**
 * openapi-backend validates bodies of `application/json` only; a structured-syntax `+json`
 * media type (RFC 6839), such as CloudEvents' batch type, is JSON too.
 */
function jsonAliases(document: Json): Json {
  for (const item of Object.values((document.paths ?? {}) as Record<string, Record<string, { requestBody?: { content?: Record<string, unknown> } }>>)) {
    for (const operation of Object.values(item)) {
      const content = operation?.requestBody?.content;
      if (!content || content['application/json']) continue;
      const json = Object.keys(content).find((type) => /\+json\b/.test(type));
      if (json) content['application/json'] = content[json];
    }
  }
  return document;
}

function matchOperation(specs: Spec[], method: string, path: string, operationId: string | undefined): Match | undefined {
  const candidates: Array<Match & { literal: number }> = [];
  for (const spec of specs) {
    for (const operation of spec.api.getOperations()) {
      if (operation.method !== method.toLowerCase()) continue;
      if (operationId !== undefined && operation.operationId !== operationId) continue;
      const canonical = canonicalPath(operation.path, path, spec.caseInsensitive) ?? collapsedPath(spec, operation.path, path);
      if (canonical !== undefined) candidates.push({ spec, operation, path: canonical, literal: operation.path.replace(/\{[^}]+\}/g, '').length });
    }
  }
  candidates.sort((a, b) => b.literal - a.literal);
  return candidates[0];
}

/**
 * The request path with the template's literal segments, or undefined if it does not match.
 * A parameter may be empty (Key Vault's `/secrets/{name}/` with no version means the latest);
 * the parameter's own schema then decides.
 */
function canonicalPath(template: string, path: string, caseInsensitive: boolean): string | undefined {
  const literals = template.split(/\{[^}]+\}/);
  const pattern = literals.map((l) => l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('([^/]*)');
  const found = new RegExp(`^${pattern}$`, caseInsensitive ? 'i' : '').exec(path);
  if (!found) return undefined;
  return literals.reduce((out, literal, i) => out + literal + (i + 1 < literals.length ? found[i + 1] : ''), '');
}

/** The request matched with an empty, left-out parameter (PATH_DEVIATIONS), spelled with it. */
function collapsedPath(spec: Spec, template: string, path: string): string | undefined {
  for (const { parameter } of PATH_DEVIATIONS.filter((d) => d.spec === spec.file)) {
    const slot = `/{${parameter}}`;
    if (!template.includes(slot)) continue;
    const canonical = canonicalPath(template.replace(slot, ''), path, spec.caseInsensitive);
    if (canonical === undefined) continue;
    // Put the empty parameter back where the template has it: after the segment before the slot.
    const before = template.slice(0, template.indexOf(slot)).split('/').length;
    const segments = canonical.split('/');
    return [...segments.slice(0, before), '', ...segments.slice(before)].join('/');
  }
  return undefined;
}

function parseBody(contentType: string | undefined, raw: string): unknown {
  if (raw === '') return undefined;
  if (!/json/i.test(contentType ?? '')) return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function responseBody(response: Exchange['response']): { value?: unknown; problem?: string } {
  if (response.body === undefined) return { value: null };
  if (typeof response.body !== 'string') return { value: JSON.parse(JSON.stringify(response.body)) };
  const type = response.headers['content-type'] ?? '';
  if (!/json/i.test(type)) return { problem: `response body is ${type || 'untyped'} text, not JSON` };
  try {
    return { value: JSON.parse(response.body) };
  } catch {
    return { problem: 'response body is not valid JSON' };
  }
}

function allowed(match: Match, error: ErrorObject): boolean {
  return DEVIATIONS.some((d: Deviation) => d.spec === match.spec.file && d.operations.includes(match.operation.operationId ?? '') && d.allows(jsonPath(error.instancePath), error));
}

function componentSchema(document: Json, name: string): Json {
  const schema = (document.components as { schemas?: Record<string, Json> } | undefined)?.schemas?.[name];
  if (!schema) throw new Error(`the spec has no components.schemas.${name}`);
  return schema;
}

/** "$.value[0].properties.runningState: must be equal to one of the allowed values (…), got …" */
function describe(error: ErrorObject, root: 'request' | 'headers' | 'body'): string {
  let pointer = error.instancePath;
  if (root === 'headers') pointer = pointer.replace(/^\/headers/, '');
  const path = root === 'body' ? jsonPath(pointer) : requestPath(pointer);
  const detail = error.keyword === 'enum' ? ` (${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}), got ${JSON.stringify(error.data)}` : error.keyword === 'additionalProperties' ? `: ${(error.params as { additionalProperty: string }).additionalProperty}` : error.keyword === 'type' ? `, got ${jsonType(error.data)}` : '';
  return `${root === 'headers' ? 'header ' : ''}${path}: ${error.message}${detail}`;
}

/** The JSON type of a value: messages never quote values, which may be secrets (enum values aside). */
function jsonType(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function jsonPath(pointer: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return parts.reduce((out, part) => (/^\d+$/.test(part) ? `${out}[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? `${out}.${part}` : `${out}[${JSON.stringify(part)}]`), '$');
}

/** `/requestBody/value` → `body $.value`; `/query` → `query`; `/path/secret-name` → `path secret-name`. */
function requestPath(pointer: string): string {
  const [, section = '', ...rest] = pointer.split('/');
  if (section === 'requestBody') return `body ${jsonPath(rest.length ? `/${rest.join('/')}` : '')}`;
  return [section || 'request', ...rest].join(' ');
}

/**
 * openapi-backend builds a new Ajv for every schema it compiles; one per option set, with the
 * formats added once, keeps the first check of an operation from stalling the event loop.
 */
const ajvs = new Map<string, Ajv>();
function sharedAjv(options: object): Ajv {
  const key = JSON.stringify(options);
  let ajv = ajvs.get(key);
  if (!ajv) {
    const { Ajv: AjvClass } = libraries!;
    ajvs.set(key, (ajv = withFormats(new AjvClass(options))));
  }
  return ajv;
}

/** ajv-formats checks the standard formats; Azure's and OpenAPI's own names only say the type. */
function withFormats(ajv: Ajv): Ajv {
  libraries!.addFormats(ajv);
  for (const format of ['unixtime', 'int32', 'int64', 'float', 'double', 'byte', 'binary', 'password', 'base64url', 'arm-id', 'duration', 'date-time-rfc1123', 'url']) ajv.addFormat(format, true);
  return ajv;
}

/** The validator every emulator in this test process reports to (installed by contract-setup.ts). */
export const contracts = new ContractValidator();
