/**
 * 2. Latency from the last member's report being produced to the outcome being
 * readable on the outcome topic, with a batching window of 0, and where the time
 * goes: broker (produce, poll, outcome delivery), store (DynamoDB calls) and the
 * handler's own work.
 *
 * No local event source mapping emulator existed when this was written
 * (local/esm/), so a kafkajs consumer plays the mapping: each fetched batch
 * (up to 100 records, no batching window) is turned into the MSK event and
 * handed to processKafkaEvent at once.
 */
import type { Consumer, KafkaMessage, Producer } from 'kafkajs';
import type { Services } from '#local/services/index.ts';
import { KAFKA_ESM } from '#shared/config.ts';
import { processKafkaEvent } from '../functions/collector/handler.ts';
import {
  attributeRecords,
  benchRuntime,
  createValue,
  doneValue,
  freshTopic,
  kafka,
  log,
  memberIds,
  newId,
  type RecordContext,
  resultOf,
  round,
  sleep,
  summary,
} from './lib.ts';

export interface LatencySample {
  totalMs: number;
  produceAckMs: number;
  brokerInMs: number;
  storeMs: number;
  storeSumMs: number;
  storeCalls: number;
  publishMs: number;
  handlerOtherMs: number;
  brokerOutMs: number;
}

export interface LatencyResult {
  method: string;
  samples: number;
  groupSize: number;
  total: ReturnType<typeof summary>;
  breakdown: Record<
    Exclude<keyof LatencySample, 'totalMs' | 'storeCalls' | 'storeSumMs'>,
    ReturnType<typeof summary>
  >;
  storeCallsOfLastReport: number;
  /** Sum of the DynamoDB calls' durations of the last report (parallel queries counted each). */
  storeSumMs: ReturnType<typeof summary>;
}

function eventOf(topic: string, partition: number, messages: KafkaMessage[]) {
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/bench/abc',
    bootstrapServers: '127.0.0.1',
    records: {
      [`${topic}-${partition}`]: messages.map((m) => ({
        topic,
        partition,
        offset: Number(m.offset),
        timestamp: Number(m.timestamp),
        timestampType: 'CREATE_TIME',
        ...(m.key ? { key: m.key.toString('base64') } : {}),
        ...(m.value ? { value: m.value.toString('base64') } : {}),
        headers: [],
      })),
    },
  };
}

export async function latency(
  services: Services,
  options: { samples: number; warmup: number; groupSize: number },
): Promise<LatencyResult> {
  const input = await freshTopic(services, 'lat-in', 3);
  const runtime = await benchRuntime(services, 'lat');
  const handled = new Map<string, number>();
  const lastContext = new Map<string, RecordContext>();
  attributeRecords(runtime, (key, ctx) => {
    handled.set(key, (handled.get(key) ?? 0) + 1);
    lastContext.set(key, ctx);
  });
  const received = new Map<string, number>();
  const k = kafka(services, 'bench-latency');
  const producer: Producer = k.producer({ idempotent: true, maxInFlightRequests: 1 });
  const mapping: Consumer = k.consumer({ groupId: `bench-esm-${newId()}`, maxWaitTimeInMs: 100 });
  const outcomes: Consumer = k.consumer({ groupId: `bench-out-${newId()}`, maxWaitTimeInMs: 100 });
  const samples: LatencySample[] = [];
  try {
    await Promise.all([producer.connect(), mapping.connect(), outcomes.connect()]);
    await mapping.subscribe({ topic: input, fromBeginning: true });
    await outcomes.subscribe({ topic: runtime.settings.outcomeTopic, fromBeginning: true });
    await mapping.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        for (let i = 0; i < batch.messages.length; i += KAFKA_ESM.batchSize) {
          const slice = batch.messages.slice(i, i + KAFKA_ESM.batchSize);
          const out = await processKafkaEvent(eventOf(batch.topic, batch.partition, slice), runtime);
          if (out.batchItemFailures.length > 0) throw new Error('latency bench: a record failed');
        }
      },
    });
    await outcomes.run({
      eachMessage: async ({ message }) => {
        if (message.key) received.set(message.key.toString(), Date.now());
      },
    });
    const result = resultOf(100);
    const deadline = Date.now() + 30_000 + options.samples * 500;
    for (let s = 0; s < options.warmup + options.samples && Date.now() < deadline; s++) {
      const group = newId();
      const members = memberIds(group, options.groupSize);
      await producer.send({
        topic: input,
        acks: -1,
        messages: [
          { key: group, value: createValue(group, members, 120) },
          ...members.slice(0, -1).map((m) => ({ key: group, value: doneValue(group, m, result) })),
        ],
      });
      const waitUntil = Date.now() + 10_000;
      while ((handled.get(group) ?? 0) < options.groupSize && Date.now() < waitUntil) await sleep(2);
      await sleep(20); // let the mapping go back to polling, as between two unrelated reports
      const t0 = Date.now();
      await producer.send({
        topic: input,
        acks: -1,
        messages: [{ key: group, value: doneValue(group, members.at(-1) as string, result) }],
      });
      const acked = Date.now();
      const outcomeWait = Date.now() + 10_000;
      // The outcome is often read before the handler has finished the record (it marks it published after).
      while (
        (!received.has(group) || (handled.get(group) ?? 0) <= options.groupSize) &&
        Date.now() < outcomeWait
      ) {
        await sleep(1);
      }
      const at = received.get(group);
      const ctx = lastContext.get(group);
      if (at === undefined || !ctx?.endedAt || ctx.publishedAt === undefined) {
        throw new Error(`latency bench: no outcome for group ${group}`);
      }
      if (s < options.warmup) continue;
      const handlerMs = ctx.endedAt - ctx.startedAt;
      samples.push({
        totalMs: at - t0,
        produceAckMs: acked - t0,
        brokerInMs: ctx.startedAt - t0,
        storeMs: ctx.storeMs,
        storeSumMs: ctx.storeSumMs,
        storeCalls: ctx.storeCalls,
        publishMs: ctx.publishMs,
        handlerOtherMs: Math.max(0, handlerMs - ctx.storeMs - ctx.publishMs),
        brokerOutMs: at - ctx.publishedAt,
      });
    }
  } finally {
    await Promise.all([producer.disconnect(), mapping.disconnect(), outcomes.disconnect()]).catch(() => {});
    await runtime.close();
  }
  const pick = (f: (s: LatencySample) => number) => summary(samples.map(f));
  const res: LatencyResult = {
    method:
      'kafkajs producer (idempotent, acks=all) → kafkajs consumer as the event source mapping (batch ≤ 100, window 0) → processKafkaEvent in-process → KafkaPublisher → kafkajs consumer on the outcome topic (receive time)',
    samples: samples.length,
    groupSize: options.groupSize,
    total: pick((s) => s.totalMs),
    breakdown: {
      produceAckMs: pick((s) => s.produceAckMs),
      brokerInMs: pick((s) => s.brokerInMs),
      storeMs: pick((s) => s.storeMs),
      publishMs: pick((s) => s.publishMs),
      handlerOtherMs: pick((s) => s.handlerOtherMs),
      brokerOutMs: pick((s) => s.brokerOutMs),
    },
    storeSumMs: pick((s) => s.storeSumMs),
    storeCallsOfLastReport: round(
      samples.reduce((a, s) => a + s.storeCalls, 0) / Math.max(1, samples.length),
      2,
    ),
  };
  log(
    `latency p50 ${res.total.p50} ms, p95 ${res.total.p95}, p99 ${res.total.p99} (n=${res.samples}); ` +
      `store p50 ${res.breakdown.storeMs.p50} ms over ${res.storeCallsOfLastReport} calls`,
  );
  return res;
}
