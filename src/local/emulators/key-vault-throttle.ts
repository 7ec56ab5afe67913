// Sources: the limits, "Secrets, managed storage account keys, and vault transactions", maximum
// transactions allowed in 10 seconds per vault per region: CREATE secret 300, all other
// transactions 4,000; "the throttling thresholds are weighted, and enforcement is on their sum"
// (https://learn.microsoft.com/azure/key-vault/general/service-limits). A request past the limit
// fails with 429 and does not count towards it
// (https://learn.microsoft.com/azure/key-vault/general/overview-throttling). The 429 body as the
// service sends it, {"error":{"code":"Throttled","message":"Request was not processed because too
// many requests were received. Reason: VaultRequestTypeLimitReached"}}, is quoted from a real
// response in https://github.com/vcsjones/AzureSignTool/issues/219.
// Where the pages are silent the stricter reading is modelled: a sliding window (no fresh budget
// at a window boundary), the weighting applied to secrets as the page states it for keys (a
// creation spends 4,000 / 300 of the 4,000), and every answered request counted, 401 challenges
// included. Retry-After is the whole seconds until enough of the window has expired.

export interface ThrottleLimits {
  windowMs: number;
  /** All transactions in one window, in units where a non-creating request costs 1. */
  transactions: number;
  /** Secret creations (`PUT /secrets/{name}`) alone in one window. */
  creations: number;
}

export const DOCUMENTED_LIMITS: ThrottleLimits = { windowMs: 10_000, transactions: 4_000, creations: 300 };

/** The vault's budget over a sliding window, on the vault's clock. */
export class VaultThrottle {
  private readonly spent: Array<{ at: number; cost: number }> = [];
  private head = 0;
  private total = 0;

  constructor(
    readonly limits: ThrottleLimits,
    private readonly now: () => number,
  ) {
    if (!(limits.windowMs > 0 && limits.transactions > 0 && limits.creations > 0 && limits.creations <= limits.transactions)) {
      throw new Error(`throttle limits need a positive window and 0 < creations <= transactions, got ${JSON.stringify(limits)}`);
    }
  }

  /** What a request spends: a creation weighs transactions / creations. */
  cost(creation: boolean): number {
    return creation ? this.limits.transactions / this.limits.creations : 1;
  }

  /** Counts the request and returns undefined, or returns the Retry-After seconds and counts nothing. */
  admit(cost: number): number | undefined {
    const now = this.now();
    this.expire(now);
    // A small tolerance: fractional weights must not refuse the request that exactly fills the window.
    if (this.total + cost <= this.limits.transactions + 1e-9) {
      this.spent.push({ at: now, cost });
      this.total += cost;
      return undefined;
    }
    return this.secondsUntilRoomFor(cost, now);
  }

  private expire(now: number): void {
    while (this.head < this.spent.length && this.spent[this.head].at <= now - this.limits.windowMs) {
      this.total -= this.spent[this.head].cost;
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.spent.length) {
      this.spent.splice(0, this.head);
      this.head = 0;
    }
  }

  private secondsUntilRoomFor(cost: number, now: number): number {
    let remaining = this.total;
    for (let i = this.head; i < this.spent.length; i += 1) {
      remaining -= this.spent[i].cost;
      if (remaining + cost <= this.limits.transactions + 1e-9) return Math.max(1, Math.ceil((this.spent[i].at + this.limits.windowMs - now) / 1000));
    }
    return Math.max(1, Math.ceil(this.limits.windowMs / 1000));
  }
}
