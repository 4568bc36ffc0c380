import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { EventSourceConfigurationError } from '#local/esm/index.ts';
import { Stopper } from '#local/esm/stopper.ts';
import { nextShardBatch } from '#local/esm/stream/batcher.ts';
import { CheckpointKeeper, newShardState } from '#local/esm/stream/checkpoints.ts';
import { shouldDescribe } from '#local/esm/stream/discovery.ts';
import { resolveStreamSettings } from '#local/esm/stream/options.ts';

/** A shard whose reads return the given pages, one per call; closed after the last if `closes`. */
function scriptedShard(pages: number[][], closes = false) {
  const shard = { buffer: [] as number[], closed: false };
  const limits: number[] = [];
  const read = async (limit: number) => {
    limits.push(limit);
    const page = pages.shift() ?? [];
    shard.buffer.push(...page.slice(0, limit));
    if (pages.length === 0 && closes) shard.closed = true;
    return page.length > 0;
  };
  return { shard, read, limits };
}

describe('stream shard batcher (local/esm/stream/batcher.ts)', () => {
  it('without a window, a batch is what one read returned', async () => {
    const { shard, read, limits } = scriptedShard([[1, 2], [3]]);
    const batch = await nextShardBatch(shard, read, { batchSize: 5, windowMs: 0, pollMs: 10 }, new Stopper());
    expect(batch).toEqual([1, 2]);
    expect(limits).toEqual([5]);
  });

  it('with a window, reads on until the batch is full', async () => {
    const { shard, read, limits } = scriptedShard([[1], [], [2, 3], [4]]);
    const batch = await nextShardBatch(
      shard,
      read,
      { batchSize: 3, windowMs: 5_000, pollMs: 5 },
      new Stopper(),
    );
    expect(batch).toEqual([1, 2, 3]);
    expect(limits).toEqual([3, 2, 2]);
  });

  it('with a window, a closing shard ends the batch early', async () => {
    const { shard, read } = scriptedShard([[1], [2]], true);
    const batch = await nextShardBatch(
      shard,
      read,
      { batchSize: 10, windowMs: 5_000, pollMs: 5 },
      new Stopper(),
    );
    expect(batch).toEqual([1, 2]);
  });

  it('nothing read: undefined, after one idle poll interval while the shard is open', async () => {
    const { shard, read } = scriptedShard([]);
    const started = Date.now();
    expect(
      await nextShardBatch(shard, read, { batchSize: 2, windowMs: 0, pollMs: 60 }, new Stopper()),
    ).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
  });
});

describe('stream checkpoint keeper (local/esm/stream/checkpoints.ts)', () => {
  const record = (sequence?: string): DynamoDBRecord => ({
    dynamodb: sequence ? { SequenceNumber: sequence } : {},
  });

  it('a child shard may be read only once its parent is finished; an unknown parent is not waited for', () => {
    const keeper = new CheckpointKeeper();
    const parent = newShardState('p', undefined);
    const child = newShardState('c', 'p');
    const orphan = newShardState('o', 'gone');
    for (const s of [parent, child, orphan]) keeper.add(s);
    expect([keeper.mayRead(parent), keeper.mayRead(child), keeper.mayRead(orphan)]).toEqual([
      true,
      false,
      true,
    ]);
    keeper.finish(parent);
    expect(keeper.mayRead(child)).toBe(true);
    expect([keeper.shardCount, keeper.finishedCount]).toEqual([3, 1]);
  });

  it('checkpoints the last done sequence number per shard; a record without one leaves it', () => {
    const keeper = new CheckpointKeeper();
    const shard = newShardState('s', undefined);
    keeper.add(shard);
    keeper.advance(shard, record('100'));
    keeper.advance(shard, record());
    const snapshot = keeper.snapshot();
    keeper.advance(shard, record('200'));
    expect(snapshot).toEqual({ s: '100' });
    expect(keeper.snapshot()).toEqual({ s: '200' });
  });

  it('knows whether any shard is still open', () => {
    const keeper = new CheckpointKeeper();
    expect(keeper.anyOpen()).toBe(false);
    const shard = newShardState('s', undefined);
    keeper.add(shard);
    expect(keeper.anyOpen()).toBe(true);
    shard.closed = true;
    expect(keeper.anyOpen()).toBe(false);
  });
});

describe('stream discovery and settings', () => {
  it('describes the stream only when a shard closed, none is open, or the interval passed', () => {
    const base = { shardClosed: false, anyOpen: true, sinceLastMs: 1_000, intervalMs: 30_000 };
    expect(shouldDescribe(base)).toBe(false);
    expect(shouldDescribe({ ...base, shardClosed: true })).toBe(true);
    expect(shouldDescribe({ ...base, anyOpen: false })).toBe(true);
    expect(shouldDescribe({ ...base, sinceLastMs: 30_000 })).toBe(true);
  });

  it('refuses a missing client and endpoint, and a batch size out of range', () => {
    const base = { streamArn: 'arn', handler: () => {} };
    expect(() => resolveStreamSettings(base)).toThrow(EventSourceConfigurationError);
    expect(() => resolveStreamSettings({ ...base, endpoint: 'http://x', batchSize: 0 })).toThrow('batchSize');
    expect(resolveStreamSettings({ ...base, endpoint: 'http://x' }).invoke.functionName).toBeTruthy();
  });
});
