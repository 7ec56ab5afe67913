import { describe, expect, it } from 'vitest';
import { loadProof } from '../bench/zero-downtime';

describe('the load proof: clients reconnecting in a loop while rotations run', () => {
  it('when three rotations run under load, then alternating users refuse no login and retire the old one, while single user counts and reports its refused window', async () => {
    const load = { rotations: 3, clients: 6, settleMs: 300 };
    const [alternating, single] = await loadProof(load);
    // Real load: every client logged in again and again through each rotation (how often
    // depends on how fast the machine and the rotation are, so only a floor is asserted).
    const busy = load.clients * load.rotations * 2;

    expect(alternating.strategy).toBe('alternating-users');
    expect(alternating.rotations.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(alternating.ok).toBeGreaterThan(busy);
    expect(alternating.refused).toBe(0);
    expect(alternating.rotations.every((r) => r.refused === 0 && r.oldLoginRefused === true)).toBe(true);

    expect(single.strategy).toBe('single-user');
    expect(single.rotations.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(single.ok).toBeGreaterThan(busy);
    expect(single.refused).toBe(single.rotations.reduce((n, r) => n + r.refused, 0));
    expect(single.refused).toBeGreaterThan(0);
    expect(single.windowMs).toBeGreaterThan(0);
  });
});
