import type { Stopper } from '../stopper.ts';

/** What the batcher sees of a shard: its read-ahead buffer and whether more can come. */
export interface ShardBuffer<T> {
  readonly buffer: T[];
  readonly closed: boolean;
}

export interface ShardBatchLimits {
  batchSize: number;
  /** MaximumBatchingWindowInSeconds in ms; 0 = a batch is whatever one read returned. */
  windowMs: number;
  /** The idle poll interval (also the step of the batching window's reads). */
  pollMs: number;
}

/**
 * The batcher of one shard: reads (through `read`, which appends to the buffer) until a
 * full batch or the batching window is over, and takes the batch. Returns undefined when
 * nothing was read; it has then already waited one poll interval if the shard is open.
 */
export async function nextShardBatch<T>(
  shard: ShardBuffer<T>,
  read: (limit: number) => Promise<boolean>,
  limits: ShardBatchLimits,
  stopper: Stopper,
): Promise<T[] | undefined> {
  const { batchSize, windowMs, pollMs } = limits;
  if (shard.buffer.length < batchSize) {
    const got = await read(batchSize - shard.buffer.length);
    const until = Date.now() + windowMs;
    while (windowMs > 0 && shard.buffer.length < batchSize && !shard.closed && Date.now() < until) {
      if (await stopper.wait(Math.min(pollMs, until - Date.now()))) break;
      await read(batchSize - shard.buffer.length);
    }
    if (!got && shard.buffer.length === 0) {
      if (!shard.closed) await stopper.wait(pollMs);
      return undefined;
    }
  }
  return shard.buffer.splice(0, batchSize);
}
