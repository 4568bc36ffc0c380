import { describe, expect, it } from 'vitest';
import type { GroupDefinition } from '#core/events.ts';
import {
  allReported,
  chunk,
  deadlineShard,
  deadlineShards,
  epochSeconds,
  groupTimes,
  keys,
  memberBuckets,
  outcomeInput,
  type StoredMember,
  shardCapacity,
  shardCount,
  shardOf,
} from '#core/rules.ts';
import { LAYOUT, TABLE } from '#shared/config.ts';

const definition: GroupDefinition = {
  id: 'g1',
  expected: ['c', 'a', 'b'],
  ttlSeconds: 60,
  payload: '{"p":1}',
  replyTo: undefined,
};
const createdMs = 1_000_000;
const deadlineMs = createdMs + 60_000;
const member = (id: string, atMs: number, extra: Partial<StoredMember> = {}): StoredMember => ({
  member: id,
  result: JSON.stringify({ by: id }),
  error: undefined,
  atMs,
  ...extra,
});

describe('keys and shards', () => {
  it('puts DEF, STATE and outcome chunks in the group partition, counters and members beside it', () => {
    // Act / Assess
    expect(keys.definition('g')).toEqual({ pk: 'G#g', sk: 'DEF' });
    expect(keys.state('g')).toEqual({ pk: 'G#g', sk: 'STATE' });
    expect(keys.outcome('g', 2)).toEqual({ pk: 'G#g', sk: 'OUT#2' });
    expect(keys.counter('g', 3)).toEqual({ pk: 'G#g#C3', sk: 'C' });
    expect(keys.member('g', 'm').sk).toBe('M#m');
    expect(keys.member('g', 'm').pk).toMatch(/^G#g#M[0-7]$/);
  });

  it('spreads members over every bucket, always the same bucket for the same member', () => {
    // Prepare
    const members = Array.from({ length: 200 }, (_, i) => `member-${i}`);

    // Act
    const partitions = new Set(members.map((m) => keys.member('g', m).pk));
    const again = members.map((m) => keys.member('g', m).pk);

    // Assess
    expect(partitions).toEqual(new Set(memberBuckets().map((b) => `G#g#M${b}`)));
    expect(again).toEqual(members.map((m) => keys.member('g', m).pk));
    expect(memberBuckets()).toHaveLength(LAYOUT.memberBuckets);
  });

  it('spreads deadlines over every shard of the index', () => {
    // Prepare
    const groups = Array.from({ length: 500 }, (_, i) => `group-${i}`);

    // Act
    const used = new Set(groups.map(deadlineShard));

    // Assess
    expect(used).toEqual(new Set(deadlineShards()));
    expect(deadlineShards()).toHaveLength(TABLE.deadlineIndex.shards);
  });

  it.each([
    [1, 1],
    [63, 1],
    [64, 1],
    [65, 2],
    [128, 2],
    [129, 3],
    [10_000, 157],
  ])('%i members need %i counter shards', (members, shards) => {
    // Act / Assess
    expect(shardCount(members)).toBe(shards);
  });

  it('places member indexes in shards of 64; every shard is full except the last', () => {
    // Prepare
    const members = 130;

    // Act
    const capacities = Array.from({ length: shardCount(members) }, (_, s) => shardCapacity(s, members));
    const perShard = new Map<number, number>();
    for (let i = 0; i < members; i++) perShard.set(shardOf(i), (perShard.get(shardOf(i)) ?? 0) + 1);

    // Assess
    expect(capacities).toEqual([64, 64, 2]);
    expect([...perShard.values()]).toEqual(capacities);
    expect(shardOf(0)).toBe(0);
    expect(shardOf(63)).toBe(0);
    expect(shardOf(64)).toBe(1);
  });

  it('capacities always add up to the number of members', () => {
    // Prepare
    const sizes = [1, 2, 63, 64, 65, 127, 128, 129, 1000, 10_000];

    // Act
    const totals = sizes.map((n) =>
      Array.from({ length: shardCount(n) }, (_, s) => shardCapacity(s, n)).reduce((a, b) => a + b, 0),
    );

    // Assess
    expect(totals).toEqual(sizes);
  });
});

describe('times', () => {
  it('epochSeconds rounds up so that TTL never removes an item before its deadline', () => {
    // Act / Assess
    expect(epochSeconds(1000)).toBe(1);
    expect(epochSeconds(1001)).toBe(2);
    expect(epochSeconds(0)).toBe(0);
  });

  it('groupTimes: deadline after ttl; STATE expires at the deadline, data after retention and margin', () => {
    // Act
    const times = groupTimes(definition, 1_500, 3_600);

    // Assess
    expect(times).toEqual({
      createdMs: 1_500,
      deadlineMs: 61_500,
      stateExpiresAt: 62,
      dataExpiresAt: 62 + 3_600 + LAYOUT.definitionMarginSeconds,
    });
  });
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

describe('chunk', () => {
  it('splits bytes into pieces of the size, the last one shorter, and joins back', () => {
    // Prepare
    const bytes = Uint8Array.from({ length: 10 }, (_, i) => i);

    // Act
    const pieces = chunk(bytes, 4);

    // Assess
    expect(pieces.map((p) => [...p])).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(Buffer.concat(pieces)).toEqual(Buffer.from(bytes));
  });

  it('an exact multiple gives full chunks only; empty input gives one empty chunk', () => {
    // Act
    const exact = chunk(new Uint8Array(8), 4);
    const empty = chunk(new Uint8Array(), 4);

    // Assess
    expect(exact.map((p) => p.length)).toEqual([4, 4]);
    expect(empty).toHaveLength(1);
    expect(empty[0]?.length).toBe(0);
  });
});
