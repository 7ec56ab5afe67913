import { toStatus, type InstanceRecord, type OrchestrationStatus } from './store';

interface Waiter {
  resolve: (status: OrchestrationStatus) => void;
  reject: (error: Error) => void;
}

/** Callers of waitForCompletion, woken when their instance finishes, the host dies or closes. */
export class CompletionWaiters {
  private readonly waiters = new Map<string, Waiter[]>();

  wait(instanceId: string, timeoutMs: number, timeoutError: () => Error): Promise<OrchestrationStatus> {
    return new Promise<OrchestrationStatus>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.remove(instanceId, waiter);
        reject(timeoutError());
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (status) => (clearTimeout(timer), resolve(status)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      };
      this.waiters.set(instanceId, [...(this.waiters.get(instanceId) ?? []), waiter]);
    });
  }

  settle(record: InstanceRecord): void {
    const list = this.waiters.get(record.instanceId);
    if (!list) return;
    this.waiters.delete(record.instanceId);
    const status = toStatus(record);
    for (const waiter of list) waiter.resolve(status);
  }

  rejectAll(error: (instanceId: string) => Error): void {
    const all = [...this.waiters];
    this.waiters.clear();
    for (const [id, list] of all) for (const waiter of list) waiter.reject(error(id));
  }

  private remove(instanceId: string, waiter: Waiter): void {
    const rest = (this.waiters.get(instanceId) ?? []).filter((w) => w !== waiter);
    if (rest.length > 0) this.waiters.set(instanceId, rest);
    else this.waiters.delete(instanceId);
  }
}
