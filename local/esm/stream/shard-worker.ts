import { randomUUID } from 'node:crypto';
import type { DynamoDBRecord } from 'aws-lambda';
import { functionArn } from '../context.ts';
import { EventSourceStoppedError } from '../errors.ts';
import { matchesAnyFilter } from '../filter.ts';
import type { Invoker } from '../invoker.ts';
import { backoffDelay, type Discarded, deliverBatch } from '../retry.ts';
import type { Stopper } from '../stopper.ts';
import { lowestStreamFailure, streamFailureRecord } from '../stream-event.ts';
import { nextShardBatch } from './batcher.ts';
import type { CheckpointKeeper, ShardState } from './checkpoints.ts';
import type { StreamEventSourceOptions, StreamSettings } from './options.ts';
import type { ShardReader } from './shard-reader.ts';

export interface ShardWorkerOptions {
  settings: StreamSettings;
  reader: ShardReader;
  keeper: CheckpointKeeper;
  invoke: Invoker<DynamoDBRecord>;
  onFailure: StreamEventSourceOptions['onFailure'];
  stopper: Stopper;
  counters: { retries: number; recordsFilteredOut: number; recordsDiscarded: number };
}

/**
 * One shard's delivery loop: waits for its parent, takes each batch from the batcher, drops
 * what the filters reject, delivers the rest (retries, bisection, partial failures, discards)
 * and checkpoints past the batch; ends, finished, when the shard is closed and drained.
 */
export async function runShard(shard: ShardState, o: ShardWorkerOptions): Promise<void> {
  const { settings, keeper, stopper, counters } = o;
  const discard = async (d: Discarded<DynamoDBRecord>) => {
    counters.recordsDiscarded += d.records.length;
    const failure = streamFailureRecord(d.records, {
      requestId: d.lastResult?.requestId ?? randomUUID(),
      functionArn: functionArn(settings.invoke.functionName, settings.region),
      condition: d.condition,
      approximateInvokeCount: d.invokeCount,
      functionError: d.lastResult && !d.lastResult.ok ? 'Unhandled' : undefined,
      shardId: shard.id,
      streamArn: settings.streamArn,
      now: Date.now(),
    });
    settings.log(`${d.condition}: discarded ${d.records.length} record(s) of ${shard.id}`);
    await o.onFailure?.(failure, d.records);
  };
  const checkpoint = async (record: DynamoDBRecord) => keeper.advance(shard, record);
  // Consecutive failures of the loop itself (Streams API errors), for its backoff.
  let failures = 0;
  while (!stopper.stopped) {
    try {
      if (!keeper.mayRead(shard)) {
        await stopper.wait(settings.pollMs);
        continue;
      }
      if (shard.buffer.length === 0 && shard.closed) break;
      const batch = await nextShardBatch(shard, (limit) => o.reader.read(shard, limit), settings, stopper);
      const last = batch?.at(-1);
      if (!batch || !last) continue;
      const matched = batch.filter((r) => matchesAnyFilter(r, settings.filters));
      counters.recordsFilteredOut += batch.length - matched.length;
      if (matched.length > 0) {
        await deliverBatch(matched, settings.handling, settings.backoff, {
          invoke: o.invoke,
          lowestFailure: lowestStreamFailure,
          recordTimeMs: (r) => (r.dynamodb?.ApproximateCreationDateTime ?? 0) * 1000,
          checkpoint,
          discard,
          sleep: (ms) => stopper.sleep(ms),
          now: Date.now,
          isStopped: () => stopper.stopped,
          onRetry: (records, retry, result) => {
            counters.retries++;
            const why = result.ok ? 'partial batch failure' : String(result.error);
            settings.log(`retry ${retry} of ${shard.id}@${records[0]?.dynamodb?.SequenceNumber}: ${why}`);
          },
        });
      }
      // Filtered-out records after the last matched one are done too.
      await checkpoint(last);
      failures = 0;
    } catch (error) {
      if (error instanceof EventSourceStoppedError) break;
      failures++;
      settings.log(`shard ${shard.id}: ${String(error)}`);
      await stopper.wait(backoffDelay(failures, settings.backoff));
    }
  }
  if (!stopper.stopped) keeper.finish(shard);
}
