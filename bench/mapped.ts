/**
 * The collector behind the local Kafka event source mapping, for the write-cost bench: records are
 * produced to a real topic (keyed by the group id, as the client keys them: one group, one
 * partition), the mapping polls and batches them as Lambda's does, and the collector handles each
 * batch with the bench runtime (its capacity meter and call trace). Counts what it delivered, so a
 * bench can wait for records to be handled, and times the handler (its wall time per record prices
 * Lambda duration).
 */
import type { Producer } from 'kafkajs';
import type { Services } from '#local/services/index.ts';
import { KAFKA_ESM } from '#shared/aws.ts';
import { processKafkaEvent } from '../functions/collector/handler.ts';
import { type KafkaEventSource, startKafkaEventSource } from '../local/esm/kafka-event-source.ts';
import {
  type BenchRuntime,
  createValue,
  doneValue,
  freshTopic,
  kafka,
  memberIds,
  newId,
  resultOf,
  round,
  sleep,
} from './lib.ts';
import { type ArrivalOrder, capacitySince, type DesignCost, shuffled } from './write-cost.ts';

export interface MappedCollector {
  readonly topic: string;
  /** Records handled so far (every invocation's records). */
  readonly handled: number;
  /** Invocations so far and the handler's wall time in them (ms). */
  readonly invocations: number;
  readonly handlerMs: number;
  /** Produces the records in this order (each on its key's partition: the group id is the key). */
  produce(records: { key: string; value: string }[]): Promise<void>;
  /** Resolves once `count` records in all have been handled. */
  handledAtLeast(count: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startMappedCollector(
  services: Services,
  runtime: BenchRuntime,
  name: string,
  /** The mapping's batching window (default the deployment's). */
  maximumBatchingWindowSeconds: number = KAFKA_ESM.maximumBatchingWindowSeconds,
): Promise<MappedCollector> {
  const topic = await freshTopic(services, name, 3);
  let handled = 0;
  let invocations = 0;
  let handlerMs = 0;
  const waiters: { count: number; resolve: () => void }[] = [];
  const esm: KafkaEventSource = await startKafkaEventSource({
    brokers: services.brokers,
    topics: [topic],
    groupId: `${topic}-mapping`,
    functionName: `bench-${name}`,
    batchSize: KAFKA_ESM.batchSize,
    maximumBatchingWindowSeconds,
    startingPosition: 'TRIM_HORIZON',
    reportBatchItemFailures: KAFKA_ESM.reportBatchItemFailures,
    handler: async (event) => {
      const started = performance.now();
      const result = await processKafkaEvent(event, runtime);
      handlerMs += performance.now() - started;
      runtime.metrics.clearMetrics();
      invocations += 1;
      handled += Object.values(event.records).reduce((n, records) => n + records.length, 0);
      for (const w of waiters.filter((w) => handled >= w.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      return result;
    },
  });
  const producer: Producer = kafka(services, `bench-${name}-producer`).producer({ idempotent: true });
  await producer.connect();
  return {
    topic,
    get handled() {
      return handled;
    },
    get invocations() {
      return invocations;
    },
    get handlerMs() {
      return handlerMs;
    },
    async produce(records) {
      // In sends of 500 (a producer's batch), in order.
      for (let i = 0; i < records.length; i += 500) {
        await producer.send({ topic, acks: -1, messages: records.slice(i, i + 500) });
      }
    },
    handledAtLeast(count) {
      if (handled >= count) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ count, resolve }));
    },
    async stop() {
      await producer.disconnect().catch(() => {});
      await esm.stop();
    },
  };
}

/** One group's whole cost through the mapping, in an arrival order (see `collectorCost` for the fields). */
export interface MappedCost extends DesignCost {
  /** Mean records per invocation of this group's reports (the mapping's batching, as it happened; the Create's own invocation left out). */
  recordsPerInvocation: number;
  /** The handler's wall time per record of this group (Create and reports). */
  handlerMsPerRecord: number;
}

export async function mappedCost(
  runtime: BenchRuntime,
  /** `burst`: the deployment's batching window (shuffled and member order); `trickle`: no window. */
  mappings: { burst: MappedCollector; trickle: MappedCollector },
  groupSize: number,
  resultBytes: number,
  order: ArrivalOrder,
  policy: { tolerate?: number; quorum?: number } = {},
  /**
   * Groups open at once, their reports interleaved (small groups at volume share the mapping's
   * batches); the figures are per group. Trickle and member order: one group.
   */
  groups = 1,
): Promise<MappedCost> {
  const mapped = order === 'trickle' ? mappings.trickle : mappings.burst;
  const together = order === 'shuffled' ? groups : 1;
  const meter = runtime.store.meter;
  const [w0, r0, calls0, by0] = [
    meter.write,
    meter.read,
    runtime.trace.calls,
    { ...runtime.trace.capacityByCommand },
  ];
  const [handled0, ms0] = [mapped.handled, mapped.handlerMs];
  const result = resultOf(resultBytes);
  const opened = Array.from({ length: together }, () => {
    const group = newId();
    return { group, ids: memberIds(group, groupSize) };
  });
  // The Creates first (members start after them), then the reports as the members finish.
  await mapped.produce(
    opened.map(({ group, ids }) => ({ key: group, value: createValue(group, ids, 900, undefined, policy) })),
  );
  await mapped.handledAtLeast(handled0 + together);
  const callsBefore = runtime.trace.calls;
  const [handled1, inv1] = [mapped.handled, mapped.invocations];
  const reports = opened.flatMap(({ group, ids }) =>
    ids.map((id) => ({ key: group, value: doneValue(group, id, result) })),
  );
  const arriving = order === 'member' ? reports : shuffled(reports);
  if (order === 'trickle') {
    // One report at a time: the next is produced once the previous one is handled.
    for (const [i, record] of arriving.entries()) {
      await mapped.produce([record]);
      await mapped.handledAtLeast(handled1 + i + 1);
    }
  } else {
    await mapped.produce(arriving);
    await mapped.handledAtLeast(handled1 + arriving.length);
  }
  // A batch the handler partly failed is delivered again (counted again): wait for the decisions too.
  const decided = async () => {
    const states = await Promise.all(opened.map(({ group }) => runtime.store.getState(group)));
    return states.every((s) => s?.status === 'succeeded');
  };
  let completed = await decided();
  for (let waited = 0; !completed && waited < 60_000; waited += 100) {
    await sleep(100);
    completed = await decided();
  }
  const byCommand = capacitySince(runtime, by0, together);
  const reportCalls = runtime.trace.calls - callsBefore;
  return {
    wcuPerReport: round((meter.write - w0) / arriving.length, 3),
    wcuPerGroup: round((meter.write - w0) / together, 2),
    rcuPerGroup: round((meter.read - r0) / together, 2),
    wcuLastReport: 0,
    completed,
    byCommand,
    callsPerReport: round(reportCalls / arriving.length, 3),
    callsPerGroup: round((runtime.trace.calls - calls0) / together, 1),
    recordsPerInvocation: round(arriving.length / Math.max(1, mapped.invocations - inv1), 1),
    handlerMsPerRecord: round((mapped.handlerMs - ms0) / Math.max(1, mapped.handled - handled0), 2),
  };
}
