import { describe, expect, it } from 'vitest';
import { findCredential, parseConfig } from '../src/config/load';
import type { Credential } from '../src/config/schema';
import { mapWithConcurrency } from '../src/rotation/concurrency';
import { dueReason, inWindow, isAbandonedPending, nextDue } from '../src/rotation/schedule';
import { TAG } from '../src/rotation/state';
import type { SecretVersionInfo } from '../src/targets/key-vault';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const ROTATED = new Date('2025-01-04T10:00:00Z');

function credential(patch: Record<string, unknown> = {}): Credential {
  const config = parseConfig({
    credentials: [
      {
        id: 'zep-db',
        postgres: { host: 'db.example', database: 'zep', role: 'zep_user', admin: { auth: 'entra', user: 'rotator-mi' } },
        keyVault: { url: 'https://kv.vault.azure.net', secret: 'zep-db-password' },
        ...patch,
      },
    ],
  });
  return findCredential(config, 'zep-db');
}

/** A live version rotated at ROTATED that expires far in the future unless told otherwise. */
function live(patch: Partial<SecretVersionInfo> = {}): SecretVersionInfo {
  return {
    name: 'zep-db-password',
    version: 'ee059b2bb5bc48398a53b168c6cdcb10',
    enabled: true,
    tags: { [TAG.rotatedAt]: ROTATED.toISOString() },
    createdOn: ROTATED.toISOString(),
    expiresOn: new Date(ROTATED.getTime() + 365 * DAY).toISOString(),
    ...patch,
  };
}

const at = (ms: number) => new Date(ms);
const utc = (iso: string) => new Date(iso);

describe('when a credential is due', () => {
  const c = credential();

  it('when the live version is exactly rotationDays (90) old, then it is due for age', () => {
    expect(c.rotationDays).toBe(90);
    expect(dueReason(c, live(), at(ROTATED.getTime() + 90 * DAY))).toBe('age');
  });

  it('when it is 90 days minus one millisecond old, then it is not due', () => {
    expect(dueReason(c, live(), at(ROTATED.getTime() + 90 * DAY - 1))).toBeUndefined();
  });

  it('when the rotated-at tag is absent, then the version\'s creation dates it', () => {
    const created = new Date(ROTATED.getTime() + 10 * DAY);
    const untagged = live({ tags: {}, createdOn: created.toISOString() });
    expect(dueReason(c, untagged, at(ROTATED.getTime() + 90 * DAY))).toBeUndefined();
    expect(dueReason(c, untagged, at(created.getTime() + 90 * DAY))).toBe('age');
  });

  it('when the rotated-at tag is newer than the creation (a tag rewritten at promote), then the tag wins', () => {
    const created = new Date(ROTATED.getTime() - 200 * DAY);
    expect(dueReason(c, live({ createdOn: created.toISOString() }), at(ROTATED.getTime() + DAY))).toBeUndefined();
  });

  it('when the live version expires within expiryMarginDays (14), then it is due as expiring, at the margin and after', () => {
    const expiresOn = ROTATED.getTime() + 30 * DAY;
    const version = live({ expiresOn: at(expiresOn).toISOString() });
    expect(dueReason(c, version, at(expiresOn - 14 * DAY - 1))).toBeUndefined();
    expect(dueReason(c, version, at(expiresOn - 14 * DAY))).toBe('expiring');
    expect(dueReason(c, version, at(expiresOn + DAY))).toBe('expiring');
  });

  it('when it is both old and expiring, then expiring is the reason given', () => {
    const version = live({ expiresOn: at(ROTATED.getTime() + 95 * DAY).toISOString() });
    expect(dueReason(c, version, at(ROTATED.getTime() + 91 * DAY))).toBe('expiring');
  });

  it('when the live version has no expiry, then it is due at once', () => {
    expect(dueReason(c, live({ expiresOn: undefined }), at(ROTATED.getTime() + DAY))).toBe('no-expiry');
  });

  it('when there is no live secret, then it is due with no-live-secret and has no next date', () => {
    expect(dueReason(c, undefined, ROTATED)).toBe('no-live-secret');
    expect(nextDue(c, undefined, ROTATED)).toBeUndefined();
  });

  it('when a credential sets its own rotationDays and margin, then those apply', () => {
    const short = credential({ rotationDays: 7, expiryMarginDays: 0 });
    const version = live({ expiresOn: at(ROTATED.getTime() + 30 * DAY).toISOString() });
    expect(dueReason(short, version, at(ROTATED.getTime() + 7 * DAY))).toBe('age');
    expect(nextDue(short, version, ROTATED)).toEqual(at(ROTATED.getTime() + 7 * DAY));
  });

  it('then nextDue is the earlier of the age date and the start of the expiry margin, and dueReason agrees at that instant', () => {
    const byAge = live();
    const byExpiry = live({ expiresOn: at(ROTATED.getTime() + 60 * DAY).toISOString() });
    expect(nextDue(c, byAge, ROTATED)).toEqual(at(ROTATED.getTime() + 90 * DAY));
    expect(nextDue(c, byExpiry, ROTATED)).toEqual(at(ROTATED.getTime() + 46 * DAY));
    for (const version of [byAge, byExpiry]) {
      const due = nextDue(c, version, ROTATED)!;
      expect(dueReason(c, version, due)).toBeDefined();
      expect(dueReason(c, version, at(due.getTime() - 1))).toBeUndefined();
    }
    expect(nextDue(c, live({ expiresOn: undefined }), at(ROTATED.getTime() + DAY))).toEqual(at(ROTATED.getTime() + DAY));
  });
});

describe('the rotation window', () => {
  const weekend = credential({ window: { days: ['sat', 'sun'], hoursUtc: [1, 5] } });

  it('when no window is configured, then every instant is in it', () => {
    expect(inWindow(credential(), utc('2025-01-08T12:34:56Z'))).toBe(true);
  });

  it('when the hour is the start hour, then it is inside; the last millisecond before the end hour too', () => {
    expect(inWindow(weekend, utc('2025-01-04T01:00:00.000Z'))).toBe(true); // a Saturday
    expect(inWindow(weekend, utc('2025-01-04T04:59:59.999Z'))).toBe(true);
  });

  it('when the hour is the end hour, or just before the start, then it is outside', () => {
    expect(inWindow(weekend, utc('2025-01-04T05:00:00.000Z'))).toBe(false);
    expect(inWindow(weekend, utc('2025-01-04T00:59:59.999Z'))).toBe(false);
  });

  it('when the local day differs from the UTC day, then the UTC weekday decides', () => {
    expect(inWindow(weekend, utc('2025-01-03T21:00:00-05:00'))).toBe(true); // Friday evening in New York, Saturday 02:00 UTC
    expect(inWindow(weekend, utc('2025-01-05T21:00:00-05:00'))).toBe(false); // Sunday evening in New York, Monday 02:00 UTC
    expect(inWindow(weekend, utc('2025-01-04T03:00:00+05:00'))).toBe(false); // Saturday morning at UTC+5, Friday 22:00 UTC
    expect(inWindow(weekend, utc('2025-01-05T02:00:00Z'))).toBe(true); // Sunday
    expect(inWindow(weekend, utc('2025-01-03T02:00:00Z'))).toBe(false); // Friday
  });

  it('when the window ends at 24, then it runs to midnight UTC and not past it', () => {
    const evening = credential({ window: { days: ['sat'], hoursUtc: [20, 24] } });
    expect(inWindow(evening, utc('2025-01-04T23:59:59.999Z'))).toBe(true);
    expect(inWindow(evening, utc('2025-01-05T00:00:00.000Z'))).toBe(false);
    expect(inWindow(evening, utc('2025-01-04T19:59:59.999Z'))).toBe(false);
  });

  it('when the window covers the whole day (0 to 24), then every hour of a listed day is in it', () => {
    const allDay = credential({ window: { days: ['wed'], hoursUtc: [0, 24] } });
    expect(inWindow(allDay, utc('2025-01-08T00:00:00Z'))).toBe(true);
    expect(inWindow(allDay, utc('2025-01-08T23:59:59Z'))).toBe(true);
    expect(inWindow(allDay, utc('2025-01-09T00:00:00Z'))).toBe(false);
  });

  it('when the end hour is before the start, then the window wraps past midnight into the next UTC day', () => {
    const overnight = credential({ window: { days: ['sat'], hoursUtc: [22, 2] } });
    expect(inWindow(overnight, utc('2025-01-04T22:00:00Z'))).toBe(true); // Saturday
    expect(inWindow(overnight, utc('2025-01-05T01:59:59.999Z'))).toBe(true); // Sunday morning
    expect(inWindow(overnight, utc('2025-01-05T02:00:00Z'))).toBe(false);
    expect(inWindow(overnight, utc('2025-01-04T01:00:00Z'))).toBe(false); // Saturday morning belongs to Friday's window
    expect(inWindow(overnight, utc('2025-01-05T22:00:00Z'))).toBe(false); // Sunday is not listed
  });

  it('when the start and end hours are equal, then the window lasts 24 hours from the start', () => {
    const day = credential({ window: { days: ['sun'], hoursUtc: [3, 3] } });
    expect(inWindow(day, utc('2025-01-05T03:00:00Z'))).toBe(true);
    expect(inWindow(day, utc('2025-01-06T02:59:59Z'))).toBe(true);
    expect(inWindow(day, utc('2025-01-06T03:00:00Z'))).toBe(false);
    expect(inWindow(day, utc('2025-01-05T02:59:59Z'))).toBe(false);
  });
});

describe('a pending secret left behind', () => {
  const created = new Date('2025-01-04T10:00:00Z');
  const pending = live({ name: 'zep-db-password-pending', createdOn: created.toISOString(), expiresOn: undefined });

  it('when it is older than the bound, then the janitor treats it as stale; at the bound it is not', () => {
    expect(isAbandonedPending(pending, at(created.getTime() + 6 * HOUR), 6)).toBe(false);
    expect(isAbandonedPending(pending, at(created.getTime() + 6 * HOUR + 1), 6)).toBe(true);
    expect(isAbandonedPending(pending, at(created.getTime() + 30 * 60_000), 0.25)).toBe(true);
  });

  it('when its creation time is unknown, then it counts as stale rather than staying for ever', () => {
    expect(isAbandonedPending({ ...pending, createdOn: undefined }, created, 6)).toBe(true);
  });
});

describe('bounded concurrency', () => {
  it('when more items than the limit are mapped, then at most limit run at once and results keep the input order', async () => {
    let running = 0;
    let peak = 0;
    const results = await mapWithConcurrency([50, 10, 40, 0, 30, 20, 5], 3, async (delay, index) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, delay));
      running -= 1;
      return `${index}:${delay}`;
    });
    expect(peak).toBe(3);
    expect(results).toEqual(['0:50', '1:10', '2:40', '3:0', '4:30', '5:20', '6:5']);
  });

  it('when one call fails, then no further item starts, the running ones finish, and the first error is thrown', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const failure = mapWithConcurrency([0, 1, 2, 3, 4, 5], 2, async (item) => {
      started.push(item);
      if (item === 1) throw new Error('item 1 failed');
      await new Promise((resolve) => setTimeout(resolve, 20));
      finished.push(item);
      return item;
    });
    await expect(failure).rejects.toThrow('item 1 failed');
    expect(started).toEqual([0, 1]);
    expect(finished).toEqual([0]);
  });

  it('when the list is empty, then nothing runs; when the limit is not a positive integer, then it is refused', async () => {
    await expect(mapWithConcurrency([], 4, async () => { throw new Error('must not run'); })).resolves.toEqual([]);
    await expect(mapWithConcurrency([1], 0, async (x) => x)).rejects.toThrow(RangeError);
  });
});
