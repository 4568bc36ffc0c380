import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GroupDefinition } from '#core/events.ts';
import type { StoredReport } from '#core/model.ts';
import { buildOutcome } from '#core/outcome.ts';
import {
  allReported,
  decideGroup,
  extendedDeadline,
  type GroupEvent,
  type GroupVerdict,
  outcomeInput,
  policyOf,
  recordingOrder,
  statusOf,
  verdictOfCounts,
} from '#core/rules.ts';

const definition: GroupDefinition = {
  id: 'g1',
  expected: ['c', 'a', 'b'],
  ttlSeconds: 60,
  payload: '{"p":1}',
  replyTo: undefined,
};
const createdMs = 1_000_000;
const deadlineMs = createdMs + 60_000;
const member = (id: string, atMs: number, extra: Partial<StoredReport> = {}): StoredReport => ({
  member: id,
  result: JSON.stringify({ by: id }),
  error: undefined,
  atMs,
  ...extra,
});

describe('outcomeInput', () => {
  it('success: every member in expected order, with its result', () => {
    // Prepare
    const members = [member('a', createdMs + 1), member('b', createdMs + 2), member('c', createdMs + 3)];

    // Act
    const input = outcomeInput({
      kind: 'success',
      definition,
      createdMs,
      deadlineMs,
      nowMs: createdMs + 5,
      members,
    });

    // Assess
    expect(input).toEqual({
      kind: 'success',
      groupId: 'g1',
      createdMs,
      resolvedMs: createdMs + 5,
      results: [
        ['c', '{"by":"c"}'],
        ['a', '{"by":"a"}'],
        ['b', '{"by":"b"}'],
      ],
      payload: '{"p":1}',
      ttlSeconds: 60,
      reasons: true,
    });
  });

  it('member failure: the failing member as null, the others stored so far, no missing list', () => {
    // Prepare
    const members = [
      member('b', createdMs + 2, { error: 'boom', result: '{"partial":1}' }),
      member('a', createdMs + 1),
    ];

    // Act
    const input = outcomeInput({
      kind: 'member-failure',
      definition,
      createdMs,
      deadlineMs,
      nowMs: createdMs + 9,
      members,
      entity: 'b',
      error: 'boom',
    });

    // Assess
    expect(input.results).toEqual([
      ['a', '{"by":"a"}'],
      ['b', 'null'],
    ]);
    expect(input).toMatchObject({
      kind: 'member-failure',
      entity: 'b',
      error: 'boom',
      resolvedMs: createdMs + 9,
    });
    expect(input).not.toHaveProperty('missing');
  });

  it('timeout: reports before the deadline are results; reports at or after it and absent ones are missing', () => {
    // Prepare
    const members = [
      member('a', deadlineMs - 1),
      member('b', deadlineMs), // at the deadline: too late
      // c never reported
    ];

    // Act
    const input = outcomeInput({
      kind: 'timeout',
      definition,
      createdMs,
      deadlineMs,
      nowMs: deadlineMs + 700,
      members,
    });

    // Assess
    expect(input.results).toEqual([['a', '{"by":"a"}']]);
    expect(input.missing).toEqual(['c', 'b']);
    expect(input).toMatchObject({ kind: 'timeout', ttlSeconds: 60, resolvedMs: deadlineMs + 700 });
    expect(input).not.toHaveProperty('entity');
  });

  it('at the deadline, every member stored before it without error is a success, not a timeout with nothing missing (issue 17 item 4)', () => {
    // Prepare: the last report started 1 ms before the deadline and was stored before the sweeper read the reports
    const members = [member('a', deadlineMs - 30), member('b', deadlineMs - 5), member('c', deadlineMs - 1)];

    // Act
    const input = outcomeInput({
      kind: 'timeout',
      definition,
      createdMs,
      deadlineMs,
      nowMs: deadlineMs + 3,
      members,
    });

    // Assess
    expect(input.kind).toBe('success');
    expect(input.results.map(([m]) => m)).toEqual(['c', 'a', 'b']);
    expect(input).not.toHaveProperty('missing');
  });

  it('at the deadline, a stored error fails the group with the earliest stored error, not as a timeout', () => {
    // Prepare
    const members = [
      member('a', deadlineMs - 30),
      member('b', deadlineMs - 5, { error: 'second', result: 'null' }),
      member('c', deadlineMs - 9, { error: 'first', result: 'null' }),
    ];

    // Act
    const input = outcomeInput({
      kind: 'timeout',
      definition,
      createdMs,
      deadlineMs,
      nowMs: deadlineMs + 3,
      members,
    });

    // Assess
    expect(input).toMatchObject({ kind: 'member-failure', entity: 'c', error: 'first' });
    expect(input.results).toEqual([
      ['c', 'null'],
      ['a', '{"by":"a"}'],
      ['b', 'null'],
    ]);
  });

  it('a timeout always names at least one missing member', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: -50, max: 50 }), fc.boolean()), {
          maxLength: 6,
        }),
        (reports) => {
          const members = reports.map(([id, offset, failed]) =>
            member(id, deadlineMs + offset, failed ? { error: 'e', result: 'null' } : {}),
          );
          const input = outcomeInput({
            kind: 'timeout',
            definition,
            createdMs,
            deadlineMs,
            nowMs: deadlineMs + 60,
            members,
          });
          if (input.kind === 'timeout') expect(input.missing?.length).toBeGreaterThan(0);
          if (input.kind === 'success') expect(input.results).toHaveLength(definition.expected.length);
        },
      ),
    );
  });

  it('ignores stored reports of members the group does not expect', () => {
    // Prepare
    const members = [member('a', 1), member('b', 2), member('c', 3), member('intruder', 4)];

    // Act
    const input = outcomeInput({ kind: 'success', definition, createdMs, deadlineMs, nowMs: 10, members });

    // Assess
    expect(input.results.map(([m]) => m)).toEqual(['c', 'a', 'b']);
  });
});

describe('allReported', () => {
  it('is true only when every expected member has a report without error', () => {
    // Prepare
    const all = [member('a', 1), member('b', 2), member('c', 3)];
    const oneFailed = [member('a', 1), member('b', 2, { error: 'x' }), member('c', 3)];
    const oneMissing = [member('a', 1), member('c', 3), member('other', 4)];

    // Act / Assess
    expect(allReported(definition, all)).toBe(true);
    expect(allReported(definition, oneFailed)).toBe(false);
    expect(allReported(definition, oneMissing)).toBe(false);
    expect(allReported(definition, [])).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 20: tolerate, quorum, cancel, extend

const abc: GroupDefinition = {
  id: 'g2',
  expected: ['a', 'b', 'c'],
  ttlSeconds: 60,
  payload: undefined,
  replyTo: undefined,
};
const maxTtlSeconds = 600;
const ok = (id: string, atMs: number): GroupEvent => ({ kind: 'report', report: member(id, atMs) });
const failed = (id: string, atMs: number, error = `${id} broke`): GroupEvent => ({
  kind: 'report',
  report: member(id, atMs, { error, result: 'null' }),
});
const cancel = (atMs: number, message?: string): GroupEvent => ({ kind: 'cancel', atMs, message });
const extend = (atMs: number, ttlSeconds: number): GroupEvent => ({ kind: 'extend', atMs, ttlSeconds });
const run = (definition: GroupDefinition, events: GroupEvent[], nowMs = createdMs + 10) =>
  decideGroup({ definition, createdMs, maxTtlSeconds, events }, nowMs);
/** The outcome a verdict decided, as published. */
const published = (verdict: GroupVerdict) => {
  if (verdict.status !== 'decided') return expect.fail('the group is still open');
  return JSON.parse(buildOutcome(verdict.outcome));
};

describe('policyOf and verdictOfCounts', () => {
  it('a plain group tolerates nothing and has no quorum', () => {
    // Act / Assess
    expect(policyOf(abc)).toEqual({ members: 3, tolerate: 0, quorum: undefined });
    expect(policyOf({ ...abc, tolerate: 1, quorum: 2 })).toEqual({ members: 3, tolerate: 1, quorum: 2 });
  });

  it.each([
    [{ tolerate: 0, quorum: undefined }, 0, 0, 'open'],
    [{ tolerate: 0, quorum: undefined }, 2, 0, 'open'],
    [{ tolerate: 0, quorum: undefined }, 3, 0, 'complete'],
    [{ tolerate: 0, quorum: undefined }, 1, 1, 'too-many-errors'],
    [{ tolerate: 1, quorum: undefined }, 1, 1, 'open'],
    [{ tolerate: 1, quorum: undefined }, 2, 1, 'complete'],
    [{ tolerate: 1, quorum: undefined }, 0, 2, 'too-many-errors'],
    [{ tolerate: 3, quorum: undefined }, 0, 3, 'complete'],
    [{ tolerate: 1, quorum: 2 }, 1, 1, 'open'],
    [{ tolerate: 1, quorum: 2 }, 2, 0, 'quorum'],
    [{ tolerate: 1, quorum: 2 }, 2, 1, 'quorum'],
    [{ tolerate: 1, quorum: 2 }, 1, 2, 'too-many-errors'],
    [{ tolerate: 2, quorum: 1 }, 0, 2, 'open'],
    [{ tolerate: 2, quorum: 1 }, 0, 3, 'too-many-errors'],
  ] as const)('%o with %i succeeded and %i failed of 3: %s', (policy, succeeded, failedCount, verdict) => {
    // Act / Assess
    expect(verdictOfCounts({ members: 3, ...policy }, { succeeded, failed: failedCount })).toBe(verdict);
  });
});

describe('extendedDeadline', () => {
  const group = { createdMs, deadlineMs: createdMs + 60_000, maxTtlSeconds };

  it('moves the deadline to the Extend\u2019s time + ttl when that is later', () => {
    // Act
    const extended = extendedDeadline(group, { atMs: createdMs + 50_000, ttlSeconds: 30 });

    // Assess
    expect(extended).toEqual({ late: false, deadlineMs: createdMs + 80_000 });
  });

  it('never shortens it: an Extend ending before the deadline, or the same Extend again, changes nothing', () => {
    // Act
    const shorter = extendedDeadline(group, { atMs: createdMs + 1_000, ttlSeconds: 5 });
    const first = extendedDeadline(group, { atMs: createdMs + 50_000, ttlSeconds: 30 });
    const again = first.late
      ? first
      : extendedDeadline(
          { ...group, deadlineMs: first.deadlineMs },
          { atMs: createdMs + 50_000, ttlSeconds: 30 },
        );

    // Assess
    expect(shorter).toEqual({ late: false, deadlineMs: group.deadlineMs });
    expect(again).toEqual(first);
  });

  it('keeps the group within the maximum ttl from its creation', () => {
    // Act
    const extended = extendedDeadline(group, { atMs: createdMs + 59_000, ttlSeconds: 600 });

    // Assess
    expect(extended).toEqual({ late: false, deadlineMs: createdMs + maxTtlSeconds * 1000 });
  });

  it('an Extend stored at or after the deadline is late', () => {
    // Act / Assess
    expect(extendedDeadline(group, { atMs: group.deadlineMs, ttlSeconds: 60 })).toEqual({ late: true });
    expect(extendedDeadline(group, { atMs: group.deadlineMs + 1, ttlSeconds: 60 })).toEqual({ late: true });
  });
});

describe('recordingOrder', () => {
  it('orders by stored time; at the same millisecond reports in expected order, then Extends, then Cancels', () => {
    // Prepare
    const events = [cancel(5), ok('b', 5), extend(5, 10), ok('a', 9), failed('c', 5), ok('x', 5), ok('a', 1)];

    // Act
    const ordered = recordingOrder(abc, events);

    // Assess
    expect(
      ordered.map((e) =>
        e.kind === 'report' ? `${e.report.member}@${e.report.atMs}` : `${e.kind}@${e.atMs}`,
      ),
    ).toEqual(['a@1', 'b@5', 'c@5', 'x@5', 'extend@5', 'cancel@5', 'a@9']);
  });
});

describe('statusOf', () => {
  it('maps every outcome kind to the status the group takes', () => {
    // Act / Assess
    expect(
      ['success', 'member-failure', 'timeout', 'cancelled'].map((k) => statusOf(k as 'success')),
    ).toEqual(['succeeded', 'failed', 'timedout', 'cancelled']);
  });
});

describe('decideGroup: a plain group is Promise.all, as before', () => {
  it('is open until every member reported, then a success without errors, missing or reason', () => {
    // Act
    const open = run(abc, [ok('a', createdMs + 1), ok('b', createdMs + 2)]);
    const done = run(abc, [ok('a', createdMs + 1), ok('b', createdMs + 2), ok('c', createdMs + 3)]);

    // Assess
    expect(open).toEqual({ status: 'open', deadlineMs });
    expect(published(done)).toEqual({
      type: 'EventGroupCollectorSuccess',
      id: 'g2',
      created: new Date(createdMs).toISOString(),
      resolved: new Date(createdMs + 10).toISOString(),
      results: { a: { by: 'a' }, b: { by: 'b' }, c: { by: 'c' } },
    });
  });

  it('fails at the first error, the failed member as null, with reason member-error and no errors field', () => {
    // Act
    const verdict = run(abc, [ok('a', createdMs + 1), failed('b', createdMs + 2), ok('c', createdMs + 3)]);

    // Assess
    expect(published(verdict)).toEqual({
      type: 'EventGroupCollectorFailure',
      id: 'g2',
      entity: 'b',
      error: 'b broke',
      reason: 'member-error',
      created: new Date(createdMs).toISOString(),
      resolved: new Date(createdMs + 10).toISOString(),
      results: { a: { by: 'a' }, b: null },
    });
    expect(verdict).toMatchObject({ decidedBy: 1, lateFrom: 2 });
  });

  it('times out at the deadline with reason timeout, what was stored before it and who is missing', () => {
    // Act
    const verdict = run(abc, [ok('a', createdMs + 1), ok('b', deadlineMs)], deadlineMs + 5);

    // Assess
    expect(published(verdict)).toMatchObject({
      entity: 'g2',
      error: 'Operation timed out after 60 seconds',
      reason: 'timeout',
      results: { a: { by: 'a' } },
      missing: ['b', 'c'],
    });
    expect(verdict).toMatchObject({ decidedBy: 'deadline', lateFrom: 1 });
  });

  it('ignores a repeated report of a member (the first wins) and reports of members it does not expect', () => {
    // Act
    const verdict = run(abc, [ok('a', createdMs + 1), failed('a', createdMs + 2), ok('zz', createdMs + 3)]);

    // Assess
    expect(verdict).toEqual({ status: 'open', deadlineMs });
  });
});

describe('decideGroup: tolerate', () => {
  const tolerant = { ...abc, tolerate: 1 };

  it('succeeds when every member reported with at most tolerate errors: results of the successes, errors of the others', () => {
    // Act
    const verdict = run(tolerant, [
      ok('a', createdMs + 1),
      failed('b', createdMs + 2),
      ok('c', createdMs + 3),
    ]);

    // Assess
    expect(published(verdict)).toMatchObject({
      type: 'EventGroupCollectorSuccess',
      results: { a: { by: 'a' }, c: { by: 'c' } },
      errors: { b: 'b broke' },
    });
    expect(published(verdict)).not.toHaveProperty('missing');
  });

  it('fails as soon as one error more than tolerated is stored, naming the member that crossed the line', () => {
    // Act
    const verdict = run(tolerant, [
      failed('c', createdMs + 1),
      ok('a', createdMs + 2),
      failed('b', createdMs + 3),
    ]);

    // Assess
    expect(published(verdict)).toMatchObject({
      type: 'EventGroupCollectorFailure',
      entity: 'b',
      error: 'b broke',
      reason: 'member-error',
      results: { a: { by: 'a' }, b: null, c: null },
      errors: { b: 'b broke', c: 'c broke' },
    });
  });

  it('tolerate n is Promise.allSettled: every member failing is still a success', () => {
    // Act
    const verdict = run(
      { ...abc, tolerate: 3 },
      ['a', 'b', 'c'].map((m, i) => failed(m, createdMs + i)),
    );

    // Assess
    expect(published(verdict)).toMatchObject({
      type: 'EventGroupCollectorSuccess',
      results: {},
      errors: { a: 'a broke', b: 'b broke', c: 'c broke' },
    });
  });

  it('a timeout lists the tolerated errors so far', () => {
    // Act
    const verdict = run(tolerant, [failed('a', createdMs + 1)], deadlineMs);

    // Assess
    expect(published(verdict)).toMatchObject({
      reason: 'timeout',
      results: { a: null },
      errors: { a: 'a broke' },
      missing: ['b', 'c'],
    });
  });
});

describe('decideGroup: quorum', () => {
  const two = { ...abc, quorum: 2, tolerate: 1 };

  it('succeeds as soon as quorum members succeeded, with errors so far and missing; later reports are late', () => {
    // Act
    const verdict = run(two, [
      failed('a', createdMs + 1),
      ok('c', createdMs + 2),
      ok('b', createdMs + 3),
      ok('a', createdMs + 4),
    ]);

    // Assess
    expect(published(verdict)).toMatchObject({
      type: 'EventGroupCollectorSuccess',
      results: { b: { by: 'b' }, c: { by: 'c' } },
      errors: { a: 'a broke' },
      missing: [],
    });
    expect(verdict).toMatchObject({ decidedBy: 2, lateFrom: 3 });
  });

  it('lists who had not reported when the quorum was reached', () => {
    // Act
    const verdict = run(two, [ok('b', createdMs + 1), ok('a', createdMs + 2), ok('c', createdMs + 3)]);

    // Assess
    expect(published(verdict)).toMatchObject({ results: { a: {}, b: {} }, missing: ['c'] });
    expect(published(verdict)).not.toHaveProperty('errors');
  });

  it('fails when the quorum can no longer be reached (tolerate n − quorum)', () => {
    // Act
    const verdict = run(two, [
      failed('a', createdMs + 1),
      failed('c', createdMs + 2),
      ok('b', createdMs + 3),
    ]);

    // Assess
    expect(published(verdict)).toMatchObject({
      entity: 'c',
      reason: 'member-error',
      errors: { a: 'a broke', c: 'c broke' },
    });
  });

  it('quorum 1 is Promise.any: the first success wins, whatever failed before it', () => {
    // Act
    const verdict = run({ ...abc, quorum: 1, tolerate: 2 }, [
      failed('a', createdMs + 1),
      failed('b', createdMs + 2),
      ok('c', createdMs + 3),
    ]);

    // Assess
    expect(published(verdict)).toMatchObject({
      results: { c: { by: 'c' } },
      errors: { a: 'a broke', b: 'b broke' },
      missing: [],
    });
  });

  it('which condition comes first depends on the order of the reports, and that one stays the outcome', () => {
    // Prepare: the same three reports, in two orders
    const reports = [ok('a', createdMs + 1), failed('b', createdMs + 1), failed('c', createdMs + 1)];
    const strict = { ...abc, quorum: 1, tolerate: 1 };

    // Act
    const successFirst = run(strict, reports);
    const errorsFirst = run(strict, [reports[1], reports[2], reports[0]] as GroupEvent[]);

    // Assess
    expect(published(successFirst).type).toBe('EventGroupCollectorSuccess');
    expect(published(errorsFirst)).toMatchObject({ type: 'EventGroupCollectorFailure', entity: 'c' });
  });
});

describe('decideGroup: cancel', () => {
  it('fails an open group at once: reason cancelled, "Cancelled: " and the message, results so far and missing', () => {
    // Act
    const verdict = run(abc, [
      ok('a', createdMs + 1),
      cancel(createdMs + 2, 'user left'),
      ok('b', createdMs + 3),
    ]);

    // Assess
    expect(published(verdict)).toEqual({
      type: 'EventGroupCollectorFailure',
      id: 'g2',
      entity: 'g2',
      error: 'Cancelled: user left',
      reason: 'cancelled',
      created: new Date(createdMs).toISOString(),
      resolved: new Date(createdMs + 10).toISOString(),
      results: { a: { by: 'a' } },
      missing: ['b', 'c'],
    });
    expect(verdict).toMatchObject({ decidedBy: 1, lateFrom: 2 });
    if (verdict.status === 'decided') expect(statusOf(verdict.outcome.kind)).toBe('cancelled');
  });

  it('without a message the error is "Cancelled"', () => {
    // Act / Assess
    expect(published(run(abc, [cancel(createdMs + 1)])).error).toBe('Cancelled');
  });

  it('a Cancel kept before the Create cancels the group as soon as it exists', () => {
    // Act
    const verdict = run(abc, [cancel(createdMs - 3_000, 'too early'), ok('a', createdMs + 1)]);

    // Assess
    expect(published(verdict)).toMatchObject({ reason: 'cancelled', results: {}, missing: ['a', 'b', 'c'] });
  });

  it('after the outcome it is late; after the deadline the timeout stands', () => {
    // Act
    const afterOutcome = run(abc, [
      ok('a', 1 + createdMs),
      ok('b', createdMs + 2),
      ok('c', createdMs + 3),
      cancel(createdMs + 4),
    ]);
    const afterDeadline = run(abc, [ok('a', createdMs + 1), cancel(deadlineMs + 1)], deadlineMs + 2);

    // Assess
    expect(afterOutcome).toMatchObject({
      status: 'decided',
      decidedBy: 2,
      lateFrom: 3,
      outcome: { kind: 'success' },
    });
    expect(afterDeadline).toMatchObject({ decidedBy: 'deadline', lateFrom: 1, outcome: { kind: 'timeout' } });
  });

  it('racing the last report, whichever was recorded first decides', () => {
    // Act
    const reportFirst = run(abc, [
      ok('a', createdMs + 1),
      ok('b', createdMs + 2),
      ok('c', createdMs + 3),
      cancel(createdMs + 3),
    ]);
    const cancelFirst = run(abc, [
      ok('a', createdMs + 1),
      ok('b', createdMs + 2),
      cancel(createdMs + 3),
      ok('c', createdMs + 3),
    ]);

    // Assess
    expect(published(reportFirst).type).toBe('EventGroupCollectorSuccess');
    expect(published(cancelFirst)).toMatchObject({ reason: 'cancelled', missing: ['c'] });
  });
});

describe('decideGroup: extend', () => {
  it('a report stored after the first deadline but before the extended one counts', () => {
    // Act
    const verdict = run(
      abc,
      [
        extend(createdMs + 50_000, 30),
        ok('a', createdMs + 61_000),
        ok('b', createdMs + 62_000),
        ok('c', createdMs + 63_000),
      ],
      createdMs + 63_000,
    );

    // Assess
    expect(published(verdict).type).toBe('EventGroupCollectorSuccess');
    expect(verdict.deadlineMs).toBe(createdMs + 80_000);
  });

  it('an open group reports its extended deadline; its timeout says how long it was open', () => {
    // Act
    const open = run(abc, [extend(createdMs + 50_000, 30)], createdMs + 70_000);
    const timedOut = run(abc, [extend(createdMs + 50_000, 30)], createdMs + 80_000);

    // Assess
    expect(open).toEqual({ status: 'open', deadlineMs: createdMs + 80_000 });
    expect(published(timedOut)).toMatchObject({
      reason: 'timeout',
      error: 'Operation timed out after 80 seconds',
    });
  });

  it('an Extend after the deadline is late: the group timed out at its deadline', () => {
    // Act
    const verdict = run(
      abc,
      [ok('a', createdMs + 1), extend(deadlineMs, 300), ok('b', deadlineMs + 1)],
      deadlineMs + 2,
    );

    // Assess
    expect(verdict).toMatchObject({ decidedBy: 'deadline', lateFrom: 1, deadlineMs });
    expect(published(verdict)).toMatchObject({
      error: 'Operation timed out after 60 seconds',
      missing: ['b', 'c'],
    });
  });

  it('an Extend kept before the Create counts from its own time, within the maximum ttl', () => {
    // Act
    const early = run(abc, [extend(createdMs - 1_000, 120)], createdMs);
    const bounded = run(abc, [extend(createdMs + 1, 100_000)], createdMs);

    // Assess
    expect(early.deadlineMs).toBe(createdMs + 119_000);
    expect(bounded.deadlineMs).toBe(createdMs + maxTtlSeconds * 1000);
  });
});
