/**
 * The gap in an Azure Storage start between reading the instance row and writing it, while
 * the ExecutionStarted message goes to the control queue: a queue round trip, modelled as a
 * few milliseconds. Starts that overlap in it race as they do on Azure.
 */
const QUEUE_SEND_MS = 2;
const BARRIER_TIMEOUT_MS = 10_000;

interface Barrier {
  remaining: number;
  release: () => void;
  released: Promise<void>;
}

export class StartRace {
  private readonly barriers = new Map<string, Barrier>();

  /** The next `count` starts of the instance wait here until all of them have read. */
  interleave(instanceId: string, count: number): void {
    let release = (): void => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    this.barriers.set(instanceId, { remaining: count, release, released });
  }

  async sendStartMessage(instanceId: string): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, QUEUE_SEND_MS));
    const barrier = this.barriers.get(instanceId);
    if (!barrier) return;
    if (--barrier.remaining <= 0) {
      this.barriers.delete(instanceId);
      barrier.release();
    }
    // A start that never comes must not hang the others for ever.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, BARRIER_TIMEOUT_MS)));
    await Promise.race([barrier.released, timeout]).finally(() => clearTimeout(timer));
    if (this.barriers.get(instanceId) === barrier) this.barriers.delete(instanceId);
  }
}
