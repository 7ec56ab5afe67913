import { randomUUID } from 'node:crypto';
import Module from 'node:module';
import type { InvocationContext } from '@azure/functions';

/**
 * The module `@azure/functions-core`, which only the Azure Functions Node.js worker
 * provides. `@azure/functions` requires it lazily on the first registration; supplying it
 * here (as the worker does) makes `app.http`, `df.app.orchestration`, ... register for real
 * instead of falling back to "test mode", and lets the local host call functions exactly
 * the way the worker does (programming model → invocation model).
 */

export interface RpcTypedData {
  string?: string;
  json?: string;
  bytes?: Uint8Array;
  stream?: Uint8Array;
  http?: RpcHttpData;
  int?: number;
  double?: number;
}

export interface RpcHttpData {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  body?: RpcTypedData;
  params?: Record<string, string>;
  query?: Record<string, string>;
  statusCode?: string;
  cookies?: unknown[];
}

export interface RpcParameterBinding {
  name: string;
  data?: RpcTypedData;
}

export interface RpcInvocationRequest {
  invocationId: string;
  functionId: string;
  inputData: RpcParameterBinding[];
  triggerMetadata: Record<string, RpcTypedData>;
}

export interface RpcInvocationResponse {
  invocationId: string;
  outputData?: RpcParameterBinding[];
  returnValue?: RpcTypedData | null;
}

export interface RpcBindingInfo {
  type: string;
  direction: 'in' | 'out' | 'inout';
  name?: string;
  [property: string]: unknown;
}

export interface CoreFunctionMetadata {
  name: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: unknown;
}

export type LogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type LogCategory = 'user' | 'system' | 'customMetric';
type CoreLog = (level: LogLevel, category: LogCategory, message: string) => void;

export interface CoreInvocationContext {
  invocationId: string;
  request: RpcInvocationRequest;
  metadata: CoreFunctionMetadata;
  state?: 'preInvocationHooks' | 'postInvocationHooks' | 'invocation';
  log: CoreLog;
}

// Any callable: the handlers the library registers have many shapes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CoreFunctionCallback = (...args: any[]) => unknown;

export interface CoreInvocationModel {
  getArguments(): Promise<{ context: InvocationContext; inputs: unknown[] }>;
  invokeFunction(context: InvocationContext, inputs: unknown[], handler: CoreFunctionCallback): Promise<unknown>;
  getResponse(context: InvocationContext, result: unknown): Promise<RpcInvocationResponse>;
}

export interface CoreProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreCtx: CoreInvocationContext): CoreInvocationModel;
}

export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';
type HookCallback = (context: Record<string, unknown>) => unknown;

export interface Disposable {
  dispose(): void;
}

/** A function as registered by the app: its metadata (bindings) and handler. */
export interface RegisteredFunction {
  readonly name: string;
  readonly metadata: CoreFunctionMetadata;
  readonly handler: CoreFunctionCallback;
}

/** The trigger binding of a registered function, with its options (route, methods, schedule...). */
export interface TriggerBinding extends RpcBindingInfo {
  name: string;
  route?: string;
  methods?: string[];
  authLevel?: string;
  schedule?: string;
}

export class FunctionRegistry {
  private readonly functions = new Map<string, RegisteredFunction>();
  private readonly hooks = new Map<HookName, HookCallback[]>();
  private model: CoreProgrammingModel | undefined;
  private appStarted: Promise<void> | undefined;
  readonly appHookData: Record<string, unknown> = {};
  readonly systemLogs: { level: LogLevel; message: string }[] = [];

  /** Called by `@azure/functions` through the core API. */
  register(metadata: CoreFunctionMetadata, handler: CoreFunctionCallback): Disposable {
    if (this.functions.has(metadata.name)) {
      throw new Error(`A function with the name "${metadata.name}" has already been registered.`);
    }
    this.functions.set(metadata.name, { name: metadata.name, metadata, handler });
    return { dispose: () => void this.functions.delete(metadata.name) };
  }

  addHook(name: HookName, callback: HookCallback): Disposable {
    const list = this.hooks.get(name) ?? [];
    list.push(callback);
    this.hooks.set(name, list);
    return { dispose: () => void list.splice(list.indexOf(callback), 1) };
  }

  setProgrammingModel(model: CoreProgrammingModel): void {
    this.model = model;
  }

  programmingModel(): CoreProgrammingModel {
    if (!this.model) throw new Error('No programming model was set: no function has been registered yet.');
    return this.model;
  }

  list(): RegisteredFunction[] {
    return [...this.functions.values()];
  }

  get(name: string): RegisteredFunction | undefined {
    return this.functions.get(name);
  }

  require(name: string): RegisteredFunction {
    const fn = this.functions.get(name);
    if (!fn) {
      const known = [...this.functions.keys()].join(', ') || 'none';
      throw new Error(
        `No function named "${name}" is registered (registered: ${known}). ` +
          'Was the app module loaded before installFunctionsCore()?',
      );
    }
    return fn;
  }

  trigger(name: string): TriggerBinding {
    return triggerOf(this.require(name));
  }

  hooksFor(name: HookName): readonly HookCallback[] {
    return this.hooks.get(name) ?? [];
  }

  /** Runs the app's `appStart` hooks once, before the first invocation, as the worker does. */
  ensureAppStarted(): Promise<void> {
    this.appStarted ??= (async () => {
      for (const hook of this.hooksFor('appStart')) await hook({ hookData: {}, appHookData: this.appHookData, functionAppDirectory: process.cwd() });
    })();
    return this.appStarted;
  }

  /** Forgets every registration (tests that load several apps in one process). */
  clear(): void {
    this.functions.clear();
    this.hooks.clear();
    this.appStarted = undefined;
  }
}

export function triggerOf(fn: RegisteredFunction): TriggerBinding {
  for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
    if (/trigger$/i.test(binding.type)) return { ...binding, name } as TriggerBinding;
  }
  throw new Error(`Function "${fn.name}" has no trigger binding.`);
}

const SLOT = Symbol.for('pg-credential-rotator.functions-core');
type Slot = typeof globalThis & { [SLOT]?: FunctionRegistry };

/**
 * Makes `require('@azure/functions-core')` return a core API bound to one registry per
 * process. Idempotent. Must run before the app registers its first function, because
 * `@azure/functions` caches the outcome of its first lookup.
 */
export function installFunctionsCore(): FunctionRegistry {
  const slot = globalThis as Slot;
  const existing = slot[SLOT];
  if (existing) return existing;
  const registry = new FunctionRegistry();
  slot[SLOT] = registry;
  interceptRequire(createCoreApi(registry));
  return registry;
}

function createCoreApi(registry: FunctionRegistry): Record<string, unknown> {
  return {
    version: 'local-durable-host',
    registerFunction: (metadata: CoreFunctionMetadata, callback: CoreFunctionCallback) =>
      registry.register(metadata, callback),
    setProgrammingModel: (model: CoreProgrammingModel) => registry.setProgrammingModel(model),
    getProgrammingModel: () => registry.programmingModel(),
    registerHook: (name: HookName, callback: HookCallback) => registry.addHook(name, callback),
    log: (level: LogLevel, _category: LogCategory, message: string) => void registry.systemLogs.push({ level, message }),
    Disposable: class {
      constructor(private readonly callOnDispose: () => void) {}
      dispose(): void {
        this.callOnDispose();
      }
    },
  };
}

type ModuleLoad = (request: string, parent: unknown, isMain: boolean) => unknown;

function interceptRequire(coreApi: Record<string, unknown>): void {
  const mod = Module as unknown as { _load: ModuleLoad };
  const originalLoad = mod._load;
  mod._load = function load(this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
    if (request === '@azure/functions-core') return coreApi;
    return originalLoad.call(this, request, parent, isMain);
  };
}

/** The InvocationContext of each running invocation, for log hooks. */
const invocationContexts = new WeakMap<CoreInvocationContext, InvocationContext>();

export interface InvokeRequest {
  inputData: RpcParameterBinding[];
  triggerMetadata?: Record<string, RpcTypedData>;
  invocationId?: string;
  onLog?: (level: LogLevel, category: LogCategory, message: string) => void;
}

export interface InvokeOutcome {
  context: InvocationContext;
  result: unknown;
  response: RpcInvocationResponse;
}

/**
 * Invokes a registered function the way the Node.js worker does: invocation model,
 * arguments, pre-invocation hooks, the handler, post-invocation hooks, response.
 * A handler error is rethrown after the post-invocation hooks (as the worker reports it).
 */
export async function invokeRegistered(registry: FunctionRegistry, fn: RegisteredFunction, req: InvokeRequest): Promise<InvokeOutcome> {
  await registry.ensureAppStarted();
  const invocationId = req.invocationId ?? randomUUID();
  const coreCtx: CoreInvocationContext = {
    invocationId,
    metadata: fn.metadata,
    request: { invocationId, functionId: fn.name, inputData: req.inputData, triggerMetadata: req.triggerMetadata ?? {} },
    log: (level, category, message) => {
      req.onLog?.(level, category, message);
      if (category === 'user') runLogHooks(registry, coreCtx, level, message);
    },
  };
  const model = registry.programmingModel().getInvocationModel(coreCtx);
  const { context, inputs } = await model.getArguments();
  invocationContexts.set(coreCtx, context);
  const hookData: Record<string, unknown> = {};
  const pre = { hookData, appHookData: registry.appHookData, invocationContext: context, inputs, functionCallback: fn.handler };
  coreCtx.state = 'preInvocationHooks';
  await runHooks(registry, 'preInvocation', pre);
  coreCtx.state = 'invocation';
  let result: unknown = null;
  let error: unknown = null;
  try {
    result = await model.invokeFunction(context, pre.inputs, pre.functionCallback);
  } catch (err) {
    error = err;
  }
  const post: Record<string, unknown> = { hookData, appHookData: registry.appHookData, invocationContext: context, inputs: pre.inputs, result, error };
  coreCtx.state = 'postInvocationHooks';
  await runHooks(registry, 'postInvocation', post);
  if (post.error !== undefined && post.error !== null) throw post.error;
  const response = await model.getResponse(context, post.result);
  return { context, result: post.result, response };
}

async function runHooks(registry: FunctionRegistry, name: HookName, hookContext: Record<string, unknown>): Promise<void> {
  for (const hook of registry.hooksFor(name)) await hook(hookContext);
}

function runLogHooks(registry: FunctionRegistry, coreCtx: CoreInvocationContext, level: LogLevel, message: string): void {
  const hooks = registry.hooksFor('log');
  if (hooks.length === 0) return;
  const invocationContext = invocationContexts.get(coreCtx);
  for (const hook of hooks) void hook({ level, message, category: 'user', invocationContext, hookData: {} });
}
