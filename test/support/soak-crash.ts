import { SimulatedCrash } from './crash';

export interface AdapterCall {
  adapter: string;
  method: string;
  args: unknown[];
}

export interface AdapterHooks {
  /** Before the real call goes out; a throw here is reported as a violation, not passed on. */
  before?(call: AdapterCall): Promise<void>;
  after?(call: AdapterCall): Promise<void>;
}

const AsyncFunction = (async () => undefined).constructor;

/**
 * Kills the worker right after the k-th adapter call from now, whichever adapter and method
 * it is (so the soak does not depend on how stages are cut into activities). From then on
 * the process is dead: any call still in flight fails when it returns, and no new call goes
 * out, until the runner has recovered and disarms it.
 */
export class SoakCrash {
  private remaining?: number;
  private dead = false;
  private inflight = 0;
  calls = 0;

  constructor(private readonly hooks: AdapterHooks = {}) {}

  arm(afterCalls: number): void {
    this.remaining = afterCalls;
  }

  get isDead(): boolean {
    return this.dead;
  }

  /** Forget the armed crash and revive: the next process starts with nothing in flight. */
  async disarm(): Promise<void> {
    while (this.inflight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    this.remaining = undefined;
    this.dead = false;
  }

  /** Wraps every async method of an adapter (the calls that reach a service). */
  wrap<T extends object>(target: T, adapter: string): T {
    return new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function' || !(value instanceof AsyncFunction)) return value;
        return async (...args: unknown[]) => this.call(obj, value as (...a: unknown[]) => Promise<unknown>, { adapter, method: String(prop), args });
      },
    });
  }

  private async call(obj: object, fn: (...a: unknown[]) => Promise<unknown>, call: AdapterCall): Promise<unknown> {
    if (this.dead) throw new SimulatedCrash(`before ${call.method}`);
    this.inflight++;
    let result: unknown;
    try {
      await this.hooks.before?.(call);
      result = await fn.apply(obj, call.args);
    } catch (error) {
      if (this.dead) throw new SimulatedCrash(`during ${call.method}`);
      throw error;
    } finally {
      this.inflight--;
    }
    if (this.dead) throw new SimulatedCrash(`after ${call.method}`);
    this.calls++;
    await this.hooks.after?.(call);
    if (this.remaining !== undefined && --this.remaining === 0) {
      this.remaining = undefined;
      this.dead = true;
      throw new SimulatedCrash(`after ${call.adapter}.${call.method}`);
    }
    return result;
  }
}
