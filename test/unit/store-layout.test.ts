import { describe, expect, it } from 'vitest';
import type { Group } from '#core/model.ts';
import {
  definitionItem,
  groupOf,
  openStateItem,
  type SingleEntry,
  singleEntryOf,
  singleStateItem,
  stateOf,
} from '#store/items.ts';
import {
  chunk,
  deadlineShard,
  deadlineShards,
  entryOf,
  epochSeconds,
  isSingleItem,
  keys,
  LAYOUT,
  memberBuckets,
  memberPartition,
  shardCapacity,
  shardCount,
  shardOf,
  TABLE,
} from '#store/layout.ts';

describe('keys and shards', () => {
  it('puts DEF, STATE and outcome chunks in the group partition, counters and members beside it', () => {
    // Act / Assess
    expect(keys.definition('g')).toEqual({ pk: 'G#1:g', sk: 'DEF' });
    expect(keys.state('g')).toEqual({ pk: 'G#1:g', sk: 'STATE' });
    expect(keys.outcome('g', 2)).toEqual({ pk: 'G#1:g', sk: 'OUT#2' });
    expect(keys.outcome('g', 2, 'd1')).toEqual({ pk: 'G#1:g', sk: 'OUT#d1#2' });
    expect(keys.counter('g', 3)).toEqual({ pk: 'G#1:g#C3', sk: 'C' });
    expect(keys.member('g', 'm').sk).toBe('M#m');
    expect(keys.member('g', 'm').pk).toMatch(/^G#1:g#M[0-7]$/);
  });

  it('no group id spells another group\'s partition (issue 17 item 13: "g#M3" is not group "g"\'s bucket 3)', () => {
    // Prepare
    const tricky = ['g#M3', 'g#C0', '1:g', 'g'];

    // Act
    const partitions = tricky.flatMap((id) => [
      keys.state(id).pk,
      keys.counter(id, 0).pk,
      ...memberBuckets().map((b) => memberPartition(id, b)),
    ]);

    // Assess
    expect(new Set(partitions).size).toBe(partitions.length);
  });

  it('spreads members over every bucket, always the same bucket for the same member', () => {
    // Prepare
    const members = Array.from({ length: 200 }, (_, i) => `member-${i}`);

    // Act
    const partitions = new Set(members.map((m) => keys.member('g', m).pk));
    const again = members.map((m) => keys.member('g', m).pk);

    // Assess
    expect(partitions).toEqual(new Set(memberBuckets().map((b) => `G#1:g#M${b}`)));
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

  it('an open group: STATE expires at the deadline (the TTL path), its data after retention and a margin', () => {
    // Prepare
    const group: Group = {
      definition: {
        id: 'g1',
        expected: ['c', 'a', 'b'],
        ttlSeconds: 60,
        payload: undefined,
        replyTo: undefined,
      },
      defHash: 'h',
      outcomeTopic: 'out',
      createdMs: 1_500,
      deadlineMs: 61_500,
    };

    // Act
    const state = openStateItem(group, epochSeconds(group.deadlineMs));
    const def = definitionItem(
      group,
      epochSeconds(group.deadlineMs) + 3_600 + LAYOUT.definitionMarginSeconds,
    );

    // Assess
    expect(state).toMatchObject({
      status: 'open',
      expiresAt: 62,
      dlAt: 61_500,
      dlShard: deadlineShard('g1'),
    });
    expect(def).toMatchObject({ expiresAt: 62 + 3_600 + LAYOUT.definitionMarginSeconds, shards: 1 });
    expect(groupOf(def)).toEqual(group);
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

describe('deadline index entries', () => {
  it('tell a group from an early report, even when ids contain the separators', () => {
    // Act / Assess
    expect(entryOf(keys.state('g#M1'))).toEqual({ kind: 'group', groupId: 'g#M1' });
    expect(entryOf(keys.member('g', 'm'))).toEqual({ kind: 'early', groupId: 'g', member: 'm' });
    expect(entryOf({ pk: 'L#sweeper', sk: 'LEASE' })).toBeUndefined();
  });
});

describe('one item per small group (issue 21)', () => {
  const group = (expected: string[], payload?: string): Group => ({
    definition: { id: 'g', expected, ttlSeconds: 60, payload, replyTo: undefined },
    defHash: 'h',
    outcomeTopic: 'out',
    createdMs: 1_000,
    deadlineMs: 61_000,
  });

  it('qualifies by member count and definition bytes alone, so every process agrees', () => {
    // Act / Assess
    expect(isSingleItem(group(['a', 'b', 'c']).definition)).toBe(true);
    expect(
      isSingleItem(group(Array.from({ length: LAYOUT.single.maxMembers }, (_, i) => `m${i}`)).definition),
    ).toBe(true);
    expect(
      isSingleItem(group(Array.from({ length: LAYOUT.single.maxMembers + 1 }, (_, i) => `m${i}`)).definition),
    ).toBe(false);
    expect(isSingleItem(group(['a'], JSON.stringify({ text: 'x'.repeat(1_100) })).definition)).toBe(false);
    expect(isSingleItem(group(['a', 'b']).definition, 0)).toBe(false);
  });

  it('reads reports keyed by position back as members, inline or referenced, and the group as created', () => {
    // Prepare
    const g = group(['__proto__', 'b', 'c']);
    const item = {
      ...singleStateItem(g, 61),
      deadlineMs: 90_000,
      r: { '0': { at: 5, res: '{"x":1}' }, '2': { at: 7, ref: true, fail: true } } as Record<
        string,
        SingleEntry
      >,
    };

    // Act
    const state = stateOf(item as never);

    // Assess
    expect(state.deadlineMs).toBe(90_000);
    expect(state.single?.group).toEqual(g);
    expect(state.single?.reports).toEqual([
      { member: '__proto__', result: '{"x":1}', error: undefined, atMs: 5 },
    ]);
    expect(state.single?.referenced).toEqual([{ member: 'c', failed: true, atMs: 7 }]);
    expect(state.single?.count).toBe(2);
  });

  it('keeps a small report inline and refers to a large one', () => {
    // Act / Assess
    expect(singleEntryOf({ member: 'a', result: '1', error: undefined, atMs: 3 }, 256)).toEqual({
      at: 3,
      res: '1',
    });
    expect(singleEntryOf({ member: 'a', result: 'null', error: 'e'.repeat(300), atMs: 3 }, 256)).toEqual({
      at: 3,
      ref: true,
      fail: true,
    });
  });
});
