/**
 * The host's clock. Real: wall time, timers wait. Virtual: wall time plus every wait the
 * host has skipped, so when nothing but timers is pending the host jumps straight to the
 * earliest fire time (a 15-minute grace timer costs nothing) and time never runs backwards.
 */
export interface Clock {
  readonly kind: 'virtual' | 'real';
  now(): Date;
  /** Moves a virtual clock forward to `at` (never back); a real clock ignores it. */
  advanceTo(at: Date): void;
}

export function createClock(kind: 'virtual' | 'real', startAt?: Date): Clock {
  return kind === 'real' ? new RealClock() : new VirtualClock(startAt);
}

class RealClock implements Clock {
  readonly kind = 'real' as const;

  now(): Date {
    return new Date();
  }

  advanceTo(): void {}
}

class VirtualClock implements Clock {
  readonly kind = 'virtual' as const;
  private skewMs: number;

  constructor(startAt?: Date) {
    this.skewMs = startAt ? startAt.getTime() - Date.now() : 0;
  }

  now(): Date {
    return new Date(Date.now() + this.skewMs);
  }

  advanceTo(at: Date): void {
    const gap = at.getTime() - this.now().getTime();
    if (gap > 0) this.skewMs += gap;
  }
}
