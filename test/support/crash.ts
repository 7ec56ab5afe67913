/** Thrown where a test kills the worker; the durable host treats it as a process death. */
export class SimulatedCrash extends Error {
  constructor(where: string) {
    super(`simulated crash ${where}`);
    this.name = 'SimulatedCrash';
  }
}

export function isSimulatedCrash(error: unknown): boolean {
  return error instanceof SimulatedCrash || (error as { cause?: unknown })?.cause instanceof SimulatedCrash;
}

/**
 * A switch the wrapped adapters consult: after the named method's next success, crash; or,
 * at the level of the wire, after the vault has handled its n-th request (the harness then
 * drops every later request, so nothing more reaches the vault from the dying worker).
 */
export class CrashPlan {
  private armed?: { method: string; remaining: number };
  private requestsLeft?: number;
  private dying = false;

  arm(method: string, afterCalls = 1): void {
    this.armed = { method, remaining: afterCalls };
  }

  armVaultRequest(afterRequests: number): void {
    this.requestsLeft = afterRequests;
  }

  /** Called for each request the vault handled; true when that request is the last the worker makes. */
  vaultRequestHandled(): boolean {
    if (this.requestsLeft === undefined || --this.requestsLeft > 0) return false;
    this.requestsLeft = undefined;
    this.dying = true;
    return true;
  }

  disarm(): void {
    this.armed = undefined;
    this.requestsLeft = undefined;
    this.dying = false;
  }

  get pending(): boolean {
    return this.armed !== undefined || this.requestsLeft !== undefined;
  }

  /** Wraps every method of `target`: the real call runs, then the crash fires if armed for it. */
  wrap<T extends object>(target: T): T {
    return new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args).catch((error: unknown) => {
            if (this.dying) throw new SimulatedCrash(`during ${String(prop)}`);
            throw error;
          });
          if (this.dying) throw new SimulatedCrash(`after ${String(prop)}`);
          if (this.armed?.method === prop && --this.armed.remaining === 0) {
            this.armed = undefined;
            throw new SimulatedCrash(`after ${String(prop)}`);
          }
          return result;
        };
      },
    });
  }
}
