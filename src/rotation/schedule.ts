import type { Credential } from '../config/schema';
import type { SecretSummary } from '../targets/key-vault';
import { TAG } from './state';

/** When a credential is due and whether a scheduled run may start now. Pure: the caller passes `now`. */

export type DueReason = 'age' | 'expiring' | 'no-expiry' | 'no-live-secret';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/**
 * Why the credential is due now, or undefined. The most urgent reason wins: no live secret,
 * then an expiry within the margin (or past), then age, then a live version without expiry.
 */
export function dueReason(credential: Credential, live: SecretSummary | undefined, now: Date): DueReason | undefined {
  if (!live) return 'no-live-secret';
  const expiring = expiryDueAt(credential, live);
  if (expiring !== undefined && expiring <= now.getTime()) return 'expiring';
  if (ageDueAt(credential, live, now) <= now.getTime()) return 'age';
  if (expiring === undefined) return 'no-expiry';
  return undefined;
}

/**
 * The instant the live version becomes due (in the past when it already is); undefined
 * when there is no live version to date it from. A version without expiry is due `now`.
 */
export function nextDue(credential: Credential, live: SecretSummary | undefined, now: Date): Date | undefined {
  if (!live) return undefined;
  const expiring = expiryDueAt(credential, live) ?? now.getTime();
  return new Date(Math.min(ageDueAt(credential, live, now), expiring));
}

/**
 * Whether a scheduled rotation may start at `now`: always without a window. The window
 * opens at `start` o'clock UTC on each listed day and closes at `end` (exclusive); when
 * `end` is not after `start` it closes at `end` on the next day, so [22, 2] on sat runs
 * from Saturday 22:00 to Sunday 02:00 and [3, 3] lasts 24 hours.
 */
export function inWindow(credential: Pick<Credential, 'window'>, now: Date): boolean {
  const window = credential.window;
  if (!window) return true;
  const [start, end] = window.hoursUtc;
  const days = new Set<string>(window.days);
  const hour = now.getUTCHours();
  const today = WEEKDAYS[now.getUTCDay()];
  if (start < end) return days.has(today) && hour >= start && hour < end;
  const yesterday = WEEKDAYS[(now.getUTCDay() + 6) % 7];
  return (days.has(today) && hour >= start) || (days.has(yesterday) && hour < end);
}

/**
 * For the janitor: a pending secret older than the bound (by createdOn) has outlived any
 * rotation that could still be writing it. One without a readable creation time counts as
 * stale, so it is looked at rather than left behind for ever.
 */
export function isAbandonedPending(pending: SecretSummary, now: Date, maxAgeHours: number): boolean {
  const created = parseTime(pending.createdOn);
  return created === undefined || now.getTime() - created > maxAgeHours * HOUR_MS;
}

/** The `rotated-at` tag written at promote, else the version's creation; unknown age counts as due now. */
function ageDueAt(credential: Credential, live: SecretSummary, now: Date): number {
  const rotatedAt = parseTime(live.tags[TAG.rotatedAt]) ?? parseTime(live.createdOn);
  return rotatedAt === undefined ? now.getTime() : rotatedAt + credential.rotationDays * DAY_MS;
}

function expiryDueAt(credential: Credential, live: SecretSummary): number | undefined {
  const expiresOn = parseTime(live.expiresOn);
  return expiresOn === undefined ? undefined : expiresOn - credential.expiryMarginDays * DAY_MS;
}

function parseTime(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}
