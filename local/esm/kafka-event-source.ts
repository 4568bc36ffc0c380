import { Kafka, type KafkaMessage, logLevel } from 'kafkajs';
import { createInvoker } from './invoker.ts';
import { PartitionBatcher } from './kafka/batcher.ts';
import { createDiscarder } from './kafka/destination.ts';
import { OffsetKeeper } from './kafka/offsets.ts';
import {
  type KafkaEventSourceOptions,
  type KafkaEventSourceStats,
  resolveKafkaSettings,
} from './kafka/options.ts';
import { runPartition } from './kafka/partition-worker.ts';
import { createPoller, readTimestampTypes } from './kafka/poller.ts';
import { buildKafkaEvent, type LambdaKafkaRecord } from './kafka-event.ts';
import { backoffDelay } from './retry.ts';
import { Stopper, settle } from './stopper.ts';

export type { KafkaEventSourceOptions, KafkaEventSourceStats } from './kafka/options.ts';

export interface KafkaEventSource {
  readonly groupId: string;
  stats(): KafkaEventSourceStats;
  stop(): Promise<void>;
}

interface Partition {
  readonly batcher: PartitionBatcher<KafkaMessage>;
  readonly done: Promise<void>;
}

/**
 * Lambda's Kafka event source mapping, locally (behaviour and sources: kafka/options.ts).
 * Wires its parts: the poller fetches into one batcher per assigned partition; a worker per
 * partition delivers the batches through the invoker and the offset keeper.
 */
export async function startKafkaEventSource(options: KafkaEventSourceOptions): Promise<KafkaEventSource> {
  const settings = resolveKafkaSettings(options);
  const { log, destination } = settings;
  const kafka = new Kafka({
    clientId: `esm-${settings.invoke.functionName}`,
    brokers: settings.brokers,
    logLevel: logLevel.NOTHING,
  });
  const producer = destination ? kafka.producer({ idempotent: true }) : undefined;
  const stopper = new Stopper();
  const partitions = new Map<string, Partition>();
  const stats: Omit<KafkaEventSourceStats, 'committed'> = {
    invocations: 0,
    failedInvocations: 0,
    retries: 0,
    recordsDelivered: 0,
    recordsFilteredOut: 0,
    recordsDiscarded: 0,
    destinationMessages: 0,
  };

  const timestampTypes = await readTimestampTypes(kafka, settings.topics);
  const poller = createPoller(kafka, {
    groupId: settings.groupId,
    topics: settings.topics,
    fromBeginning: settings.fromBeginning,
    stopper,
    onMessages: (topic, partition, messages) => partitionFor(topic, partition).batcher.push(messages),
    onAssignment: (assigned) => {
      // Partitions that went to another member: drop their buffered records, stop their workers.
      for (const [id, { batcher }] of partitions) {
        if (assigned.has(id)) continue;
        batcher.revoke();
        partitions.delete(id);
      }
    },
  });
  const offsets = new OffsetKeeper(poller.commit, log);
  const worker = {
    handling: settings.handling,
    backoff: settings.backoff,
    filters: settings.filters,
    invoke: createInvoker(
      options.handler,
      (records: readonly LambdaKafkaRecord[]) => buildKafkaEvent(records, settings.source),
      settings.invoke,
      stats,
    ),
    offsets,
    discard: createDiscarder({
      topic: destination,
      functionName: settings.invoke.functionName,
      source: settings.source,
      send: async (topic, messages) => producer?.send({ topic, acks: -1, messages }),
      retryWait: (attempt) => stopper.sleep(backoffDelay(attempt, settings.backoff)),
      log,
      counters: stats,
    }),
    stopper,
    counters: stats,
    log,
  };

  function partitionFor(topic: string, partition: number): Partition {
    const id = `${topic}-${partition}`;
    const known = partitions.get(id);
    if (known) return known;
    const batcher = new PartitionBatcher<KafkaMessage>(
      topic,
      partition,
      settings,
      { pause: () => poller.pause(topic, partition), resume: () => poller.resume(topic, partition) },
      stopper,
    );
    const timestampType = timestampTypes.get(topic) ?? 'CREATE_TIME';
    const done = runPartition(batcher, { ...worker, timestampType }).catch((error: unknown) =>
      log(`lane ${id} failed: ${String(error)}`),
    );
    const created = { batcher, done };
    partitions.set(id, created);
    return created;
  }

  await producer?.connect();
  await poller.start();

  let stopping: Promise<void> | undefined;
  return {
    groupId: settings.groupId,
    stats: () => ({ ...stats, committed: offsets.snapshot() }),
    stop() {
      stopping ??= (async () => {
        stopper.stop();
        for (const { batcher } of partitions.values()) batcher.wake();
        // An invocation in flight finishes (in-process code cannot be stopped), bounded.
        await settle([...partitions.values()].map((p) => p.done));
        await poller.disconnect();
        await producer?.disconnect().catch(() => {});
      })();
      return stopping;
    },
  };
}
