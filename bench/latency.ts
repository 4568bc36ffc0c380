/**
 * 2. Latency, end to end through the local event source mapping emulator: the
 * last member's report is produced (t0) and a consumer of the outcome topic
 * receives the outcome. `startLocalCollector` runs the three functions as AWS
 * would (Kafka mapping with MaximumBatchingWindowInSeconds 0 on a fresh input
 * topic and a unique consumer group, stream mapping, sweeper), on a fresh table.
 *
 * Breakdown of the critical path, per sample (they add up to the total):
 * broker → handler (t0 → the collector starts the record: produce, the mapping's
 * fetch, the invocation), store before the publish (wall time with a DynamoDB
 * call in flight, timed by a middleware on the runtime's document client),
 * handler work before the publish, and outcome publish start → consumer receives
 * (the produce with acks=all plus delivery to the consumer). The published mark
 * written after the outcome is off the critical path and shown apart.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Consumer, Producer } from 'kafkajs';
import { startLocalCollector } from '#local/collector.ts';
import { ensureTable } from '#local/services/dynamodb.ts';
import type { Services } from '#local/services/index.ts';
import type { OutgoingMessage } from '#publish/publisher.ts';
import { dynamoClient } from '#shared/runtime.ts';
import {
  createValue,
  doneValue,
  freshTopic,
  kafka,
  log,
  memberIds,
  newId,
  resultOf,
  round,
  sleep,
  summary,
} from './lib.ts';

export interface LatencySample {
  totalMs: number;
  produceAckMs: number;
  brokerInMs: number;
  storeBeforePublishMs: number;
  handlerBeforePublishMs: number;
  publishToReceiveMs: number;
  publishCallMs: number;
  storeAfterPublishMs: number;
  storeSumMs: number;
  storeCalls: number;
}

type Stats = ReturnType<typeof summary>;

export interface LatencyResult {
  method: string;
  samples: number;
  groupSize: number;
  total: Stats;
  /** Critical path: brokerInMs + storeBeforePublishMs + handlerBeforePublishMs + publishToReceiveMs = total. */
  breakdown: {
    produceAckMs: Stats;
    brokerInMs: Stats;
    storeBeforePublishMs: Stats;
    handlerBeforePublishMs: Stats;
    publishToReceiveMs: Stats;
    publishCallMs: Stats;
    storeAfterPublishMs: Stats;
  };
  /** Sum of the DynamoDB calls' durations of the last report (parallel queries counted each). */
  storeSumMs: Stats;
  storeCallsOfLastReport: number;
  /** Mean duration of one DynamoDB call of the last report, ms (all samples). */
  storeMeanCallMs: number;
  /** DynamoDB calls of the last report by command (mean per sample). */
  storeCallsByCommand: Record<string, number>;
}

interface RecordTrace {
  startedAt: number;
  endedAt?: number;
  publishStartedAt?: number;
  publishAckedAt?: number;
  storeBeforeMs: number;
  storeAfterMs: number;
  storeSumMs: number;
  calls: Record<string, number>;
  inflight: number;
  busySince: number;
}

const traced = new AsyncLocalStorage<RecordTrace>();
/** Groups prepared (created, all but one member reported) in one round before their last reports are timed. */
const PREPARE = 10;

export async function latency(
  services: Services,
  options: { samples: number; warmup: number; groupSize: number },
): Promise<LatencyResult> {
  // A table of its own: its stream starts empty (the stream mapping reads from TRIM_HORIZON).
  const admin = dynamoClient({ endpoint: services.dynamoEndpoint });
  const tableName = `bench-latency-${newId().slice(0, 8)}`;
  const streamArn = await ensureTable(admin, tableName).finally(() => admin.destroy());
  const [input, outcomeTopic, deadLetterTopic] = await Promise.all([
    freshTopic(services, 'lat-in', 3),
    freshTopic(services, 'lat-out', 3),
    freshTopic(services, 'lat-dlq', 1),
  ]);
  const local = await startLocalCollector({
    brokers: services.brokers,
    dynamoEndpoint: services.dynamoEndpoint,
    tableName,
    streamArn,
    inputTopics: [input],
    groupId: `bench-lat-${newId()}`,
    kafka: { maximumBatchingWindowSeconds: 0 },
    settings: { outcomeTopic, deadLetterTopic },
  });
  const runtime = local.runtimes.collector;
  runtime.logger.setLogLevel('SILENT');

  // Instrumentation of the collector function's runtime: records, DynamoDB calls, the publisher.
  const handled = new Map<string, number>();
  const lastTrace = new Map<string, RecordTrace>();
  const service = runtime.collector;
  const handleRecord = service.handleRecord.bind(service);
  service.handleRecord = (record, nowMs) => {
    const t: RecordTrace = {
      startedAt: Date.now(),
      storeBeforeMs: 0,
      storeAfterMs: 0,
      storeSumMs: 0,
      calls: {},
      inflight: 0,
      busySince: 0,
    };
    const key = record.key?.toString() ?? '';
    return traced.run(t, async () => {
      try {
        return await handleRecord(record, nowMs);
      } finally {
        t.endedAt = Date.now();
        lastTrace.set(key, t);
        handled.set(key, (handled.get(key) ?? 0) + 1);
      }
    });
  };
  runtime.store.doc.middlewareStack.add(
    (next, context) => async (args) => {
      const t = traced.getStore();
      const started = performance.now();
      if (t && t.inflight++ === 0) t.busySince = started;
      try {
        return await next(args);
      } finally {
        if (t) {
          const end = performance.now();
          t.storeSumMs += end - started;
          const name = String(context.commandName ?? 'unknown').replace('Command', '');
          t.calls[name] = (t.calls[name] ?? 0) + 1;
          if (--t.inflight === 0) {
            if (t.publishStartedAt === undefined) t.storeBeforeMs += end - t.busySince;
            else t.storeAfterMs += end - t.busySince;
          }
        }
      }
    },
    { step: 'initialize', name: 'benchLatencyTrace' },
  );
  const publisher = runtime.publisher;
  const publish = publisher.publish.bind(publisher);
  publisher.publish = async (messages: OutgoingMessage[]) => {
    const t = traced.getStore();
    if (t && messages.some((m) => m.destination === outcomeTopic)) t.publishStartedAt = Date.now();
    try {
      await publish(messages);
    } finally {
      if (t?.publishStartedAt !== undefined) t.publishAckedAt = Date.now();
    }
  };

  const received = new Map<string, number>();
  const k = kafka(services, 'bench-latency');
  const producer: Producer = k.producer({ idempotent: true, maxInFlightRequests: 1 });
  const outcomes: Consumer = k.consumer({ groupId: `bench-lat-out-${newId()}`, maxWaitTimeInMs: 100 });
  const samples: LatencySample[] = [];
  const byCommand: Record<string, number> = {};
  try {
    await Promise.all([producer.connect(), outcomes.connect()]);
    await outcomes.subscribe({ topic: outcomeTopic, fromBeginning: true });
    await outcomes.run({
      eachMessage: async ({ message }) => {
        if (message.key) received.set(message.key.toString(), Date.now());
      },
    });
    const result = resultOf(100);
    const total = options.warmup + options.samples;
    const deadline = Date.now() + 60_000 + options.samples * 1_000;
    // Groups are prepared PREPARE at a time (Create and all but the last report, one produce), then measured one by one.
    for (let s0 = 0; s0 < total && Date.now() < deadline; s0 += PREPARE) {
      const round0 = Array.from({ length: Math.min(PREPARE, total - s0) }, () => {
        const group = newId();
        return { group, members: memberIds(group, options.groupSize) };
      });
      // The first round also waits for the consumers to join their groups.
      const patience = s0 === 0 ? 30_000 : 10_000;
      await producer.send({
        topic: input,
        acks: -1,
        messages: round0.flatMap(({ group, members }) => [
          { key: group, value: createValue(group, members, 300) },
          ...members.slice(0, -1).map((m) => ({ key: group, value: doneValue(group, m, result) })),
        ]),
      });
      const waitUntil = Date.now() + patience;
      while (
        round0.some(({ group }) => (handled.get(group) ?? 0) < options.groupSize) &&
        Date.now() < waitUntil
      ) {
        await sleep(2);
      }
      for (const [r, { group, members }] of round0.entries()) {
        const s = s0 + r;
        await sleep(20); // the mapping goes back to polling, as between two unrelated reports
        const t0 = Date.now();
        await producer.send({
          topic: input,
          acks: -1,
          messages: [{ key: group, value: doneValue(group, members.at(-1) as string, result) }],
        });
        const acked = Date.now();
        const outcomeWait = Date.now() + patience;
        // The outcome is often received before the handler has finished the record (it marks it published after).
        while (
          (!received.has(group) || (handled.get(group) ?? 0) <= options.groupSize) &&
          Date.now() < outcomeWait
        ) {
          await sleep(1);
        }
        const at = received.get(group);
        const t = lastTrace.get(group);
        if (at === undefined || !t?.endedAt || t.publishStartedAt === undefined || !t.publishAckedAt) {
          throw new Error(`latency bench: no outcome for group ${group}`);
        }
        if (s < options.warmup) continue;
        for (const [name, count] of Object.entries(t.calls)) byCommand[name] = (byCommand[name] ?? 0) + count;
        samples.push({
          totalMs: at - t0,
          produceAckMs: acked - t0,
          brokerInMs: t.startedAt - t0,
          storeBeforePublishMs: t.storeBeforeMs,
          handlerBeforePublishMs: Math.max(0, t.publishStartedAt - t.startedAt - t.storeBeforeMs),
          publishToReceiveMs: at - t.publishStartedAt,
          publishCallMs: t.publishAckedAt - t.publishStartedAt,
          storeAfterPublishMs: t.storeAfterMs,
          storeSumMs: t.storeSumMs,
          storeCalls: Object.values(t.calls).reduce((a, b) => a + b, 0),
        });
      }
    }
  } finally {
    await Promise.all([producer.disconnect(), outcomes.disconnect()]).catch(() => {});
    await local.stop();
  }
  const pick = (f: (s: LatencySample) => number) => summary(samples.map(f));
  const perSample = (x: number) => round(x / Math.max(1, samples.length), 2);
  const res: LatencyResult = {
    method:
      'kafkajs producer (idempotent, acks=all) → input topic (3 partitions) → local Kafka event source mapping emulator ' +
      '(startLocalCollector: MSK event form, batch ≤ 100, MaximumBatchingWindowInSeconds 0, fresh topic and consumer group; ' +
      'stream mapping and sweeper running) → collector function → KafkaPublisher (acks=all) → kafkajs consumer on the outcome topic (receive time)',
    samples: samples.length,
    groupSize: options.groupSize,
    total: pick((s) => s.totalMs),
    breakdown: {
      produceAckMs: pick((s) => s.produceAckMs),
      brokerInMs: pick((s) => s.brokerInMs),
      storeBeforePublishMs: pick((s) => s.storeBeforePublishMs),
      handlerBeforePublishMs: pick((s) => s.handlerBeforePublishMs),
      publishToReceiveMs: pick((s) => s.publishToReceiveMs),
      publishCallMs: pick((s) => s.publishCallMs),
      storeAfterPublishMs: pick((s) => s.storeAfterPublishMs),
    },
    storeSumMs: pick((s) => s.storeSumMs),
    storeCallsOfLastReport: perSample(samples.reduce((a, s) => a + s.storeCalls, 0)),
    storeMeanCallMs: round(
      samples.reduce((a, s) => a + s.storeSumMs, 0) /
        Math.max(
          1,
          samples.reduce((a, s) => a + s.storeCalls, 0),
        ),
      2,
    ),
    storeCallsByCommand: Object.fromEntries(Object.entries(byCommand).map(([k, v]) => [k, perSample(v)])),
  };
  log(
    `latency p50 ${res.total.p50} ms, p95 ${res.total.p95}, p99 ${res.total.p99} (n=${res.samples}); ` +
      `broker→handler p50 ${res.breakdown.brokerInMs.p50} ms, store p50 ${res.breakdown.storeBeforePublishMs.p50} ms ` +
      `over ${res.storeCallsOfLastReport} calls, publish→received p50 ${res.breakdown.publishToReceiveMs.p50} ms`,
  );
  return res;
}
