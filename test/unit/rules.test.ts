import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GroupDefinition } from '#core/events.ts';
import type { StoredReport } from '#core/model.ts';
import { allReported, outcomeInput } from '#core/rules.ts';

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
