import { describe, expect, it } from 'vitest';
import {
  deadlineShard,
  deadlineShards,
  keys,
  LAYOUT,
  memberBuckets,
  memberPartition,
  pageKey,
  pagePartitions,
  TABLE,
} from '#store/layout.ts';

describe('keys and shards', () => {
  it('puts DEF, STATE and outcome chunks in the group partition, report pages and members beside it', () => {
    // Act / Assess
    expect(keys.definition('g')).toEqual({ pk: 'G#1:g', sk: 'DEF' });
    expect(keys.state('g')).toEqual({ pk: 'G#1:g', sk: 'STATE' });
    expect(keys.outcome('g', 2)).toEqual({ pk: 'G#1:g', sk: 'OUT#2' });
    expect(keys.outcome('g', 2, 'd1')).toEqual({ pk: 'G#1:g', sk: 'OUT#d1#2' });
    expect(pageKey('g', 1700, 11, 8)).toEqual({ pk: 'G#1:g#P1700#3', sk: 'P#11' });
    expect(keys.member('g', 'm').sk).toBe('M#m');
    expect(keys.member('g', 'm').pk).toMatch(/^G#1:g#M[0-7]$/);
  });

  it('no group id spells another group\'s partition (issue 17 item 13: "g#M3" is not group "g"\'s bucket 3)', () => {
    // Prepare
    const tricky = ['g#M3', 'g#C0', '1:g', 'g'];

    // Act
    const partitions = tricky.flatMap((id) => [
      keys.state(id).pk,
      pageKey(id, 0, 0, 1).pk,
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
    [9, 1],
    [1_250, 1],
    [1_251, 2],
    [5_000, 4],
    [10_000, 8],
    [100_000, 8],
  ])('a group of %i members spreads its report pages over %i partition keys', (members, partitions) => {
    // Act / Assess
    expect(pagePartitions(members)).toBe(partitions);
  });

  it('page numbers go round the partitions, each page in one place', () => {
    // Act
    const pages = Array.from({ length: 24 }, (_, n) => pageKey('g', 5, n, 8));

    // Assess
    expect(new Set(pages.map((p) => p.pk)).size).toBe(8);
    expect(new Set(pages.map((p) => `${p.pk}/${p.sk}`)).size).toBe(24);
    expect(pageKey('g', 6, 0, 8).pk).not.toBe(pageKey('g', 5, 0, 8).pk);
  });
});
