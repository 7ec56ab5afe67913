/**
 * At most this many sessions of the rotator at a time on one server unless configured: the
 * smallest Azure Database for PostgreSQL flexible server (B1ms) allows 50 connections, 15 of
 * them reserved, so 35 for every user together
 * (https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-limits), and the
 * applications need them more than the rotator does.
 */
export const DEFAULT_SESSIONS_PER_SERVER = 5;

interface Server {
  active: number;
  waiting: Array<() => void>;
}

// Shared by every adapter in the process: the cap is per server, not per credential.
const servers = new Map<string, Server>();

/** Runs `work` once fewer than `limit` sessions are open on host:port, holding a place until it settles; waiters go in order. */
export async function withServerSlot<T>(server: { host: string; port: number }, limit: number, work: () => Promise<T>): Promise<T> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`the PostgreSQL session cap must be a positive integer, got ${limit}`);
  const key = `${server.host.toLowerCase()}:${server.port}`;
  const state = servers.get(key) ?? { active: 0, waiting: [] };
  servers.set(key, state);
  if (state.active >= limit) await new Promise<void>((resolve) => state.waiting.push(resolve));
  else state.active += 1;
  try {
    return await work();
  } finally {
    release(key, state);
  }
}

/** Hands the place straight to the next waiter, so a newcomer cannot overtake it. */
function release(key: string, state: Server): void {
  const next = state.waiting.shift();
  if (next) return next();
  state.active -= 1;
  if (state.active === 0) servers.delete(key);
}

/** Sessions open now on host:port through `withServerSlot`. */
export function sessionsOpen(server: { host: string; port: number }): number {
  return servers.get(`${server.host.toLowerCase()}:${server.port}`)?.active ?? 0;
}
