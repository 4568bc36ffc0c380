import { describe, expect, it } from 'vitest';
import type { Group, StoredReport } from '#core/model.ts';
import { outcomeOf } from '../../functions/service/outcomes.ts';
import { bounded } from '../../functions/store/context.ts';

/**
 * The outcome's size limit counts only the results the outcome holds: reports read past the memory
 * budget stand as `null` (their bytes remembered), and those a quorum leaves out do not make it "too
 * large".
 */
const T0 = Date.UTC(2026, 11, 7);
const big = (member: string, atMs: number): StoredReport => ({
  member,
  result: JSON.stringify({ blob: member.repeat(400_000) }),
  error: undefined,
  atMs,
});
const group = (quorum?: number): Group => ({
  definition: {
    id: 'G-1',
    expected: ['a', 'b', 'c'],
    ttlSeconds: 300,
    payload: undefined,
    replyTo: undefined,
    ...(quorum === undefined ? {} : { quorum, tolerate: 3 - quorum }),
  },
  defHash: 'h',
  outcomeTopic: 'out',
  createdMs: T0,
  deadlineMs: T0 + 300_000,
});
const settings = { maxOutcomeBytes: 1_000_000, maxTtlSeconds: 604_800 };

describe('outcome size with results read past the memory budget', () => {
  it('a quorum of 2 decided by a and b fits, though c (stored after it, left out) was not loaded', () => {
    // Prepare: a, b and c in recording order; the budget holds a and b only
    const read = bounded([big('a', T0 + 1), big('b', T0 + 2), big('c', T0 + 3)], settings.maxOutcomeBytes);

    // Act
    const { outcome } = outcomeOf(settings, {
      group: group(2),
      kind: 'success',
      nowMs: T0 + 4,
      members: read.reports,
      unloadedBytes: read.unloadedBytes,
      deadlineMs: T0 + 300_000,
      ordered: true,
    });

    // Assess
    expect(read.unloadedBytes).toBeGreaterThan(400_000);
    expect(outcome.kind).toBe('success');
    const parsed = JSON.parse(outcome.text);
    expect(Object.keys(parsed.results)).toEqual(['a', 'b']);
    expect(parsed.reason).toBeUndefined();
  });

  it('a plain group whose results it holds were not all loaded is too large', () => {
    // Prepare
    const read = bounded([big('a', T0 + 1), big('b', T0 + 2), big('c', T0 + 3)], settings.maxOutcomeBytes);

    // Act
    const { outcome } = outcomeOf(settings, {
      group: group(),
      kind: 'success',
      nowMs: T0 + 4,
      members: read.reports,
      unloadedBytes: read.unloadedBytes,
      deadlineMs: T0 + 300_000,
      ordered: true,
    });

    // Assess
    expect(outcome.kind).toBe('member-failure');
    expect(JSON.parse(outcome.text)).toMatchObject({ reason: 'outcome-too-large' });
  });
});
