import { setTimeout as sleep } from 'node:timers/promises';
import type { PipelinePolicy, PipelineRequest } from '@azure/core-rest-pipeline';

/**
 * Key Vault's throttling limits for secrets, per vault and region, in any 10 seconds: 300
 * secret creations and 4,000 of all other transactions
 * (https://learn.microsoft.com/azure/key-vault/general/service-limits, "Secrets, managed
 * storage account keys, and vault transactions"). The same page says thresholds are weighted
 * and enforced on their sum, so one creation spends 4,000 / 300 of the 4,000. The limit is
 * shared with every application that reads the vault.
 */
export const KEY_VAULT_SECRET_LIMITS: KeyVaultLimits = { windowMs: 10_000, transactions: 4_000, creations: 300 };

export interface KeyVaultLimits {
  windowMs: number;
  transactions: number;
  creations: number;
}

/**
 * What one request spends of the vault's transactions: a creation (an authenticated
 * `PUT /secrets/{name}`) weighs transactions / creations; the token-less challenge the client
 * sends first creates nothing and costs 1.
 */
export function transactionCost(request: Pick<PipelineRequest, 'method' | 'url' | 'headers'>, limits: KeyVaultLimits = KEY_VAULT_SECRET_LIMITS): number {
  const isCreation = request.method.toUpperCase() === 'PUT' && request.headers.has('authorization') && /^\/+secrets\/[^/]+\/?$/.test(new URL(request.url).pathname);
  return isCreation ? limits.transactions / limits.creations : 1;
}

/**
 * At most `budget` spent in any `windowMs`, as the vault counts it (a sliding window, not a
 * steady drip): a single rotation goes out at once, and a fleet's requests are let through as
 * fast as earlier ones leave the window. Callers wait their turn in order.
 */
export class WindowBudget {
  private readonly spent: Array<{ at: number; cost: number }> = [];
  private total = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly budget: number,
    private readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Resolves once `cost` fits the window, after everyone who asked before. */
  take(cost: number): Promise<void> {
    if (cost > this.budget) throw new Error(`a request costing ${cost} can never fit a budget of ${this.budget}`);
    const turn = this.queue.then(() => this.reserve(cost));
    this.queue = turn;
    return turn;
  }

  private async reserve(cost: number): Promise<void> {
    for (;;) {
      const now = this.now();
      this.expire(now);
      if (this.total + cost <= this.budget + 1e-9) break;
      await sleep(Math.max(1, Math.ceil(this.roomAt(cost) - now)));
    }
    this.spent.push({ at: this.now(), cost });
    this.total += cost;
  }

  private expire(now: number): void {
    while (this.spent.length > 0 && this.spent[0].at <= now - this.windowMs) this.total -= this.spent.shift()!.cost;
  }

  /** When enough of the window will have left it for `cost` to fit. */
  private roomAt(cost: number): number {
    let remaining = this.total;
    for (const s of this.spent) {
      remaining -= s.cost;
      if (remaining + cost <= this.budget + 1e-9) return s.at + this.windowMs;
    }
    return this.now();
  }
}

/**
 * Paces every request to each vault so that, in any 10 seconds, the rotator spends at most
 * `share` of the vault's limit and leaves the rest to the applications that read it. One
 * budget per vault (host), shared by every client this pacer's policy is attached to. A
 * token bucket would either let twice the share through in some 10 s (a full bucket plus its
 * refill) or, sized to prevent that, run at half the share.
 */
export class KeyVaultPacer {
  private readonly budgets = new Map<string, WindowBudget>();

  /** `limits`: the service's, unless a test runs the emulator with lower ones. */
  constructor(
    readonly share: number,
    private readonly limits: KeyVaultLimits = KEY_VAULT_SECRET_LIMITS,
  ) {
    if (!(share > 0 && share <= 1)) throw new Error(`the Key Vault share must be in (0, 1], got ${share}`);
    if (share * limits.transactions < limits.transactions / limits.creations) throw new Error(`a Key Vault share of ${share} leaves no room for one secret creation in ${limits.windowMs / 1000} s`);
  }

  /** The transactions a second the share allows one vault: what a paced fleet's time is bounded by. */
  get allowedPerSecond(): number {
    return (this.share * this.limits.transactions * 1000) / this.limits.windowMs;
  }

  /** A pipeline policy for `SecretClient` options; `perRetry`, so every attempt and challenge is counted. */
  policy(): PipelinePolicy {
    return {
      name: 'keyVaultPacingPolicy',
      sendRequest: async (request: PipelineRequest, next) => {
        await this.budgetFor(new URL(request.url).host).take(transactionCost(request, this.limits));
        return next(request);
      },
    };
  }

  private budgetFor(vault: string): WindowBudget {
    const key = vault.toLowerCase();
    let budget = this.budgets.get(key);
    if (!budget) {
      budget = new WindowBudget(this.share * this.limits.transactions, this.limits.windowMs);
      this.budgets.set(key, budget);
    }
    return budget;
  }
}
