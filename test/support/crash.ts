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

/** A switch the wrapped adapters consult: after the named method's next success, crash. */
export class CrashPlan {
  private armed?: { method: string; remaining: number };

  arm(method: string, afterCalls = 1): void {
    this.armed = { method, remaining: afterCalls };
  }

  disarm(): void {
    this.armed = undefined;
  }

  get pending(): boolean {
    return this.armed !== undefined;
  }

  /** Wraps every method of `target`: the real call runs, then the crash fires if armed for it. */
  wrap<T extends object>(target: T): T {
    return new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
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
