import type { KafkaMessage } from 'kafkajs';
import { EventSourceStoppedError } from '../errors.ts';
import { type FilterPattern, matchesAnyFilter } from '../filter.ts';
import type { Invoker } from '../invoker.ts';
import {
  type LambdaKafkaRecord,
  lowestKafkaFailure,
  type TimestampType,
  toLambdaKafkaRecord,
} from '../kafka-event.ts';
import { type Backoff, deliverBatch, type ErrorHandling } from '../retry.ts';
import type { Stopper } from '../stopper.ts';
import type { PartitionBatcher } from './batcher.ts';
import type { Discarder } from './destination.ts';
import type { OffsetKeeper } from './offsets.ts';

export interface PartitionWorkerOptions {
  handling: ErrorHandling;
  backoff: Backoff;
  filters: readonly FilterPattern[];
  timestampType: TimestampType;
  invoke: Invoker<LambdaKafkaRecord>;
  offsets: OffsetKeeper;
  discard: Discarder;
  stopper: Stopper;
  counters: { retries: number; recordsFilteredOut: number };
  log: (line: string) => void;
}

/**
 * One partition's delivery loop: takes each batch from its batcher, drops the records
 * the filters reject, delivers the rest (retries, bisection, partial failures, discards)
 * and commits past the batch. One batch in flight per partition; a failing batch holds
 * its partition while the others progress.
 */
export async function runPartition(
  batcher: PartitionBatcher<KafkaMessage>,
  o: PartitionWorkerOptions,
): Promise<void> {
  const isStopped = () => o.stopper.stopped || batcher.revoked;
  for (let messages = await batcher.next(); messages; messages = await batcher.next()) {
    const batch = messages.map((m) =>
      toLambdaKafkaRecord(batcher.topic, batcher.partition, m, o.timestampType),
    );
    const last = batch.at(-1);
    if (!last) continue;
    const matched = o.filters.length
      ? batch.filter((r) => matchesAnyFilter(kafkaFilterView(r), o.filters))
      : batch;
    o.counters.recordsFilteredOut += batch.length - matched.length;
    try {
      if (matched.length > 0) {
        await deliverBatch(matched, o.handling, o.backoff, {
          invoke: o.invoke,
          lowestFailure: lowestKafkaFailure,
          recordTimeMs: (r) => r.timestamp,
          checkpoint: (r) => o.offsets.commit(batcher, r.offset + 1),
          discard: (d) => o.discard(batcher.id, d),
          sleep: (ms) => o.stopper.sleep(ms),
          now: Date.now,
          isStopped,
          onRetry: (records, retry, result) => {
            o.counters.retries++;
            const why = result.ok ? 'partial batch failure' : String(result.error);
            o.log(`retry ${retry} of ${batcher.id}@${records[0]?.offset} (${records.length}): ${why}`);
          },
        });
      }
      // Filtered-out records after the last matched one are committed with the batch.
      await o.offsets.commitThrough(batcher, last.offset + 1);
    } catch (error) {
      if (error instanceof EventSourceStoppedError) break;
      throw error;
    }
  }
}

/** What Kafka filter criteria see: only `value`, parsed as JSON when it is JSON. */
export function kafkaFilterView(record: LambdaKafkaRecord): { value: unknown } {
  const text = record.value === undefined ? '' : Buffer.from(record.value, 'base64').toString('utf8');
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { value: text };
  }
}
