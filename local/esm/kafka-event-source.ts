import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import kafkajs, {
  type Admin,
  type Consumer,
  Kafka,
  type KafkaMessage,
  logLevel,
  type Producer,
} from 'kafkajs';
import { FUNCTIONS, KAFKA_ESM } from '#shared/aws.ts';

// kafkajs is CommonJS; Node's ESM loader cannot see this export by name.
const { ConfigResourceTypes } = kafkajs;

import { functionArn, type InvocationResult, invokeHandler } from './context.ts';
import { EventSourceConfigurationError, EventSourceStoppedError } from './errors.ts';
import { type FilterPattern, matchesAnyFilter, validatePattern } from './filter.ts';
import {
  buildKafkaEvent,
  type KafkaEventForm,
  type KafkaSourceIdentity,
  type LambdaKafkaEvent,
  type LambdaKafkaRecord,
  LOCAL_CLUSTER_ARN,
  lowestKafkaFailure,
  onFailureRecord,
  type TimestampType,
  toLambdaKafkaRecord,
} from './kafka-event.ts';
import {
  type Backoff,
  backoffDelay,
  DEFAULT_BACKOFF,
  type Discarded,
  deliverBatch,
  Stopper,
} from './retry.ts';

/**
 * A local stand-in for Lambda's Kafka event source mapping (Amazon MSK or
 * self-managed Apache Kafka), on a real broker through a kafkajs consumer group.
 *
 * Behaviour and its sources (AWS Lambda developer guide):
 * - Event shape: see kafka-event.ts.
 * - One batch in flight per partition; partitions progress independently; a failing
 *   batch is retried and holds its partition ("Lambda retries the whole batch ... until
 *   processing succeeds or the messages expire"): with-kafka-configure.html.
 * - Offsets are committed only after a successful invocation (committed offset = next
 *   record to read): with-kafka-configure.html, invocation-eventsourcemapping.html.
 * - Batching: up to BatchSize records or MaximumBatchingWindowInSeconds: msk-esm-parameters.html.
 * - MaximumRetryAttempts, MaximumRecordAgeInSeconds, BisectBatchOnFunctionError,
 *   ReportBatchItemFailures: kafka-retry-configurations.html.
 * - On-failure destination on a Kafka topic (one message per failed record, key = the
 *   record's key; infinite retries capped at 10 when a destination is set):
 *   kafka-on-failure-destination.html.
 * - Filters apply to `value` only; filtered-out offsets are committed too:
 *   kafka-filtering.html, invocation-eventfiltering.html.
 * - StartingPosition applies only when the consumer group has no committed offsets:
 *   kafka-consumer-group-id.html.
 */
export interface KafkaEventSourceOptions {
  brokers: string[];
  topics: string[];
  handler: (event: LambdaKafkaEvent, context: Context) => Promise<unknown> | unknown;
  /** Default KAFKA_ESM.consumerGroupId. */
  groupId?: string;
  /** Event form: `msk` (aws:kafka, with eventSourceArn) or `self-managed`. Default `msk`. */
  form?: KafkaEventForm;
  eventSourceArn?: string;
  /** Written into the event; default the brokers, comma-separated. */
  bootstrapServers?: string;
  batchSize?: number;
  maximumBatchingWindowSeconds?: number;
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  maximumRetryAttempts?: number;
  maximumRecordAgeSeconds?: number;
  bisectBatchOnFunctionError?: boolean;
  reportBatchItemFailures?: boolean;
  /** On-failure destination topic (`kafka://<topic>` on AWS). */
  onFailureTopic?: string;
  /** Filter criteria on `value` (JSON values are matched as JSON). */
  filters?: readonly FilterPattern[];
  functionName?: string;
  /** The function's timeout (context countdown; enforced with `enforceTimeout`). */
  timeoutMs?: number;
  enforceTimeout?: boolean;
  memoryMb?: number;
  backoff?: Backoff;
  /** Diagnostics (retries, discards, commit errors). */
  log?: (line: string) => void;
}

export interface KafkaEventSourceStats {
  invocations: number;
  failedInvocations: number;
  retries: number;
  recordsDelivered: number;
  recordsFilteredOut: number;
  /** Records given up on (retries exhausted or too old), per condition. */
  recordsDiscarded: number;
  /** Messages written to the on-failure topic. */
  destinationMessages: number;
  /** Last committed offset (next to read) per `"<topic>-<partition>"`. */
  committed: Record<string, number>;
}

export interface KafkaEventSource {
  readonly groupId: string;
  stats(): KafkaEventSourceStats;
  stop(): Promise<void>;
}

interface Lane {
  readonly topic: string;
  readonly partition: number;
  readonly buffer: KafkaMessage[];
  /** Next offset this lane expects; earlier ones (refetched after a rebalance) are skipped. */
  nextOffset: bigint | undefined;
  firstArrivalMs: number;
  paused: boolean;
  revoked: boolean;
  wake: (() => void) | undefined;
  done: Promise<void>;
}

const DEFAULT_FUNCTION = FUNCTIONS.collector;

export async function startKafkaEventSource(options: KafkaEventSourceOptions): Promise<KafkaEventSource> {
  const groupId = options.groupId ?? KAFKA_ESM.consumerGroupId;
  const batchSize = options.batchSize ?? KAFKA_ESM.batchSize;
  const windowMs = (options.maximumBatchingWindowSeconds ?? KAFKA_ESM.maximumBatchingWindowSeconds) * 1000;
  const destination = options.onFailureTopic;
  const requestedRetries = options.maximumRetryAttempts ?? KAFKA_ESM.maximumRetryAttempts;
  const handling = {
    // "When you configure both infinite retries and an on-failure destination, Lambda
    // automatically applies a maximum of 10 retry attempts." (kafka-on-failure-destination.html)
    maximumRetryAttempts: destination && requestedRetries < 0 ? 10 : requestedRetries,
    maximumRecordAgeSeconds: options.maximumRecordAgeSeconds ?? KAFKA_ESM.maximumRecordAgeSeconds,
    bisectBatchOnFunctionError: options.bisectBatchOnFunctionError ?? KAFKA_ESM.bisectBatchOnFunctionError,
    reportBatchItemFailures: options.reportBatchItemFailures ?? KAFKA_ESM.reportBatchItemFailures,
  };
  validateOptions(options, batchSize, handling.maximumRetryAttempts);
  for (const pattern of options.filters ?? []) validatePattern(pattern);
  const functionName = options.functionName ?? DEFAULT_FUNCTION.name;
  const log = options.log ?? (() => {});
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const source: KafkaSourceIdentity = {
    form: options.form ?? 'msk',
    eventSourceArn: options.eventSourceArn ?? LOCAL_CLUSTER_ARN,
    bootstrapServers: options.bootstrapServers ?? options.brokers.join(','),
  };
  const highWater = Math.max(2 * batchSize, 200);

  const kafka = new Kafka({
    clientId: `esm-${functionName}`,
    brokers: options.brokers,
    logLevel: logLevel.NOTHING,
  });
  const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250, allowAutoTopicCreation: false });
  const producer: Producer | undefined = destination ? kafka.producer({ idempotent: true }) : undefined;
  const stopper = new Stopper();
  const lanes = new Map<string, Lane>();
  const stats: KafkaEventSourceStats = {
    invocations: 0,
    failedInvocations: 0,
    retries: 0,
    recordsDelivered: 0,
    recordsFilteredOut: 0,
    recordsDiscarded: 0,
    destinationMessages: 0,
    committed: {},
  };

  const timestampTypes = await readTimestampTypes(kafka, options.topics);

  const commit = async (lane: Lane, nextOffset: number) => {
    if (lane.revoked) throw new EventSourceStoppedError(`partition ${lane.topic}-${lane.partition} revoked`);
    try {
      await consumer.commitOffsets([
        { topic: lane.topic, partition: lane.partition, offset: String(nextOffset) },
      ]);
      stats.committed[`${lane.topic}-${lane.partition}`] = nextOffset;
    } catch (error) {
      // A later commit covers this one; the records stay delivered (at-least-once).
      log(`commit ${lane.topic}-${lane.partition}@${nextOffset} failed: ${String(error)}`);
    }
  };

  const invoke = async (records: readonly LambdaKafkaRecord[]): Promise<InvocationResult> => {
    stats.invocations++;
    stats.recordsDelivered += records.length;
    const result = await invokeHandler(options.handler, buildKafkaEvent(records, source), {
      functionName,
      timeoutMs: options.timeoutMs ?? DEFAULT_FUNCTION.timeoutSeconds * 1000,
      enforceTimeout: options.enforceTimeout ?? false,
      memoryMb: options.memoryMb ?? DEFAULT_FUNCTION.memoryMb,
    });
    if (!result.ok) stats.failedInvocations++;
    return result;
  };

  const discard = async (lane: Lane, d: Discarded<LambdaKafkaRecord>) => {
    stats.recordsDiscarded += d.records.length;
    const range = `${lane.topic}-${lane.partition}@${d.records[0]?.offset}..${d.records.at(-1)?.offset}`;
    if (!producer || !destination) {
      log(`${d.condition}: discarded ${d.records.length} record(s) ${range} (no on-failure destination)`);
      return;
    }
    const now = Date.now();
    const functionError = d.lastResult && !d.lastResult.ok ? 'Unhandled' : undefined;
    const send = () =>
      producer.send({
        topic: destination,
        acks: -1,
        messages: d.records.map((record) => ({
          // "key = original key; keyless => round-robin" (kafka-on-failure-destination.html)
          key: record.key === undefined ? null : Buffer.from(record.key, 'base64'),
          value: JSON.stringify(
            onFailureRecord(record, {
              requestId: d.lastResult?.requestId ?? randomUUID(),
              functionArn: functionArn(functionName),
              condition: d.condition,
              approximateInvokeCount: d.invokeCount,
              functionError,
              batch: d.records,
              source,
              now,
            }),
          ),
        })),
      });
    // The destination must receive the records before the checkpoint moves past them.
    for (let attempt = 1; ; attempt++) {
      try {
        await send();
        break;
      } catch (error) {
        log(`on-failure destination ${destination}: ${String(error)}; retrying`);
        await stopper.sleep(backoffDelay(attempt, backoff));
      }
    }
    stats.destinationMessages += d.records.length;
    log(`${d.condition}: ${d.records.length} record(s) ${range} sent to ${destination}`);
  };

  const takeBatch = (lane: Lane): LambdaKafkaRecord[] => {
    const taken = lane.buffer.splice(0, batchSize);
    if (lane.buffer.length > 0) lane.firstArrivalMs = Date.now();
    if (lane.paused && lane.buffer.length < highWater / 2 && !stopper.stopped && !lane.revoked) {
      lane.paused = false;
      consumer.resume([{ topic: lane.topic, partitions: [lane.partition] }]);
    }
    const type = timestampTypes.get(lane.topic) ?? 'CREATE_TIME';
    return taken.map((m) => toLambdaKafkaRecord(lane.topic, lane.partition, m, type));
  };

  const waitForData = (lane: Lane, ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const stopWatch = stopper.wait(ms).then(done);
      function done() {
        clearTimeout(timer);
        // The stopper's timer of an earlier wait fires late: it must not clear a newer wait's wake-up.
        if (lane.wake === done) lane.wake = undefined;
        resolve();
      }
      lane.wake = done;
      void stopWatch;
    });

  const runLane = async (lane: Lane) => {
    while (!stopper.stopped && !lane.revoked) {
      if (lane.buffer.length === 0) {
        await waitForData(lane, 1_000);
        continue;
      }
      // Batching window: wait for a full batch or the window since the first buffered record.
      while (lane.buffer.length < batchSize && !stopper.stopped && !lane.revoked) {
        const left = lane.firstArrivalMs + windowMs - Date.now();
        if (left <= 0) break;
        await waitForData(lane, left);
      }
      if (stopper.stopped || lane.revoked) break;
      const batch = takeBatch(lane);
      const last = batch.at(-1);
      if (!last) continue;
      const matched = options.filters?.length
        ? batch.filter((r) => matchesAnyFilter(filterView(r), options.filters))
        : batch;
      stats.recordsFilteredOut += batch.length - matched.length;
      try {
        if (matched.length > 0) {
          await deliverBatch(matched, handling, backoff, {
            invoke,
            lowestFailure: lowestKafkaFailure,
            recordTimeMs: (r) => r.timestamp,
            checkpoint: (r) => commit(lane, r.offset + 1),
            discard: (d) => discard(lane, d),
            sleep: (ms) => stopper.sleep(ms),
            now: Date.now,
            isStopped: () => stopper.stopped || lane.revoked,
            onRetry: (records, retry, result) => {
              stats.retries++;
              const why = result.ok ? 'partial batch failure' : String(result.error);
              log(
                `retry ${retry} of ${lane.topic}-${lane.partition}@${records[0]?.offset} (${records.length}): ${why}`,
              );
            },
          });
        }
        // Filtered-out records after the last matched one are committed with the batch.
        if (stats.committed[`${lane.topic}-${lane.partition}`] !== last.offset + 1)
          await commit(lane, last.offset + 1);
      } catch (error) {
        if (error instanceof EventSourceStoppedError) break;
        throw error;
      }
    }
  };

  const laneFor = (topic: string, partition: number): Lane => {
    const id = `${topic}-${partition}`;
    let lane = lanes.get(id);
    if (!lane) {
      const created: Lane = {
        topic,
        partition,
        buffer: [],
        nextOffset: undefined,
        firstArrivalMs: 0,
        paused: false,
        revoked: false,
        wake: undefined,
        done: Promise.resolve(),
      };
      created.done = runLane(created).catch((error: unknown) => log(`lane ${id} failed: ${String(error)}`));
      lanes.set(id, created);
      lane = created;
    }
    return lane;
  };

  let joined: () => void = () => {};
  const firstJoin = new Promise<void>((resolve) => {
    joined = resolve;
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    // Partitions that went to another member: drop their buffered records, stop their lanes.
    const assigned = new Set(
      Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) =>
        partitions.map((p) => `${topic}-${p}`),
      ),
    );
    for (const [id, lane] of lanes) {
      if (assigned.has(id)) continue;
      lane.revoked = true;
      lane.buffer.length = 0;
      lane.wake?.();
      lanes.delete(id);
    }
    joined();
  });

  if (destination) {
    if (options.topics.includes(destination)) {
      throw new EventSourceConfigurationError('the on-failure topic must differ from the source topics');
    }
    await producer?.connect();
  }
  await consumer.connect();
  await consumer.subscribe({
    topics: options.topics,
    fromBeginning: (options.startingPosition ?? KAFKA_ESM.startingPosition) === 'TRIM_HORIZON',
  });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      if (stopper.stopped) return;
      const lane = laneFor(batch.topic, batch.partition);
      if (lane.revoked) return;
      const wasEmpty = lane.buffer.length === 0;
      for (const message of batch.messages) {
        const offset = BigInt(message.offset);
        if (lane.nextOffset !== undefined && offset < lane.nextOffset) continue;
        lane.buffer.push(message);
        lane.nextOffset = offset + 1n;
      }
      if (wasEmpty && lane.buffer.length > 0) lane.firstArrivalMs = Date.now();
      if (lane.buffer.length >= highWater && !lane.paused) {
        lane.paused = true;
        consumer.pause([{ topic: lane.topic, partitions: [lane.partition] }]);
      }
      lane.wake?.();
    },
  });
  await Promise.race([firstJoin, stopper.wait(30_000)]);

  let stopping: Promise<void> | undefined;
  return {
    groupId,
    stats: () => ({ ...stats, committed: { ...stats.committed } }),
    stop() {
      stopping ??= (async () => {
        stopper.stop();
        for (const lane of lanes.values()) lane.wake?.();
        // An invocation in flight finishes (in-process code cannot be stopped), bounded.
        await Promise.race([
          Promise.all([...lanes.values()].map((l) => l.done)),
          new Promise((r) => setTimeout(r, 15_000).unref()),
        ]);
        await consumer.disconnect().catch(() => {});
        await producer?.disconnect().catch(() => {});
      })();
      return stopping;
    },
  };
}

function validateOptions(options: KafkaEventSourceOptions, batchSize: number, retries: number) {
  if (options.topics.length === 0) throw new EventSourceConfigurationError('at least one topic is required');
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new EventSourceConfigurationError(`batchSize must be 1..10000, got ${batchSize}`);
  }
  if (!Number.isInteger(retries) || retries < -1 || retries > 10_000) {
    throw new EventSourceConfigurationError(`maximumRetryAttempts must be -1..10000, got ${retries}`);
  }
}

/** What Kafka filter criteria see: only `value`, parsed as JSON when it is JSON. */
function filterView(record: LambdaKafkaRecord): { value: unknown } {
  const text = record.value === undefined ? '' : Buffer.from(record.value, 'base64').toString('utf8');
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { value: text };
  }
}

/** CREATE_TIME or LOG_APPEND_TIME per topic, from the topic's `message.timestamp.type`. */
async function readTimestampTypes(kafka: Kafka, topics: string[]): Promise<Map<string, TimestampType>> {
  const admin: Admin = kafka.admin();
  const types = new Map<string, TimestampType>();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({
        type: ConfigResourceTypes.TOPIC,
        name,
        configNames: ['message.timestamp.type'],
      })),
    });
    for (const resource of resources) {
      const value = resource.configEntries.find(
        (e) => e.configName === 'message.timestamp.type',
      )?.configValue;
      types.set(resource.resourceName, value === 'LogAppendTime' ? 'LOG_APPEND_TIME' : 'CREATE_TIME');
    }
  } catch {
    // Unknown topics or an old broker: CREATE_TIME, the Kafka default.
  } finally {
    await admin.disconnect();
  }
  return types;
}
