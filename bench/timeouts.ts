/**
 * 4. Timeout punctuality: (timeout published − deadline) for groups whose
 * deadlines are spread over a window and for groups expiring in the same second,
 * with the sweeper running sweepLoop at SWEEPER.intervalMs in-process.
 *
 * The groups live in a table of their own without TTL: DynamoDB Local's TTL
 * removes expired items 1–11 s after expiry (AWS: up to days), and without the
 * stream handler running here a removed STATE would hide the sweeper's work.
 * This isolates the punctual path (the sweeper), which is what guarantee 9 rests on.
 */
import { CreateTableCommand, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import type { Consumer } from 'kafkajs';
import { tableDefinition } from '#local/services/dynamodb.ts';
import type { Services } from '#local/services/index.ts';
import { EVENT_TYPES, KAFKA_ESM, SWEEPER } from '#shared/config.ts';
import { processKafkaEvent } from '../functions/collector/handler.ts';
import { sweepLoop } from '../functions/sweeper/handler.ts';
import {
  benchRuntime,
  createValue,
  dynamoClient,
  freshTopic,
  kafka,
  log,
  newId,
  pool,
  round,
  sleep,
  summary,
} from './lib.ts';

const TTL_SECONDS = 60;
/** Create batches applied at once, as by pollers of several partitions. */
const CREATE_POLLERS = 4;

export interface PunctualityScenario {
  name: string;
  groups: number;
  windowMs: number;
  published: number;
  /** Groups whose creation finished after their deadline (excluded; should be 0). */
  createdLate: number;
  /** Kafka message timestamp (set by the producer when it sent the outcome) − deadline. */
  lateByTimestampMs: ReturnType<typeof summary>;
  /** Receive time by a consumer of the outcome topic − deadline. */
  lateByReceiveMs: ReturnType<typeof summary>;
  /** Last outcome received − first deadline of the scenario. */
  clearedAfterMs: number;
}

export interface PunctualityResult {
  intervalMs: number;
  concurrency: number;
  sweeps: number;
  /** Wall time of one `collector.timeoutGroup` call in the sweeper (DynamoDB + publish). */
  timeoutGroupMs: ReturnType<typeof summary>;
  /** DynamoDB calls of the sweeper per timed-out group (incl. the index queries), and their mean latency. */
  sweeperCallsPerGroup: number;
  sweeperMeanCallMs: number;
  sweeperPublishMeanMs: number;
  scenarios: PunctualityScenario[];
}

async function ensureTable(services: Services, name: string) {
  const client = dynamoClient(services);
  try {
    await client.send(new CreateTableCommand(tableDefinition(name)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  } finally {
    client.destroy();
  }
}

export async function punctuality(
  services: Services,
  options: { groups: number; spreadMs: number; marginMs: number; maxMarginMs: number },
): Promise<PunctualityResult> {
  const tableName = `bench-timeouts-${newId().slice(0, 8)}`;
  await ensureTable(services, tableName);
  const outcomeTopic = await freshTopic(services, 'to-out', 3);
  const deadLetterTopic = await freshTopic(services, 'to-dlq', 1);
  const overrides = { tableName, outcomeTopic, deadLetterTopic };
  const collector = await benchRuntime(services, 'to-collector', overrides);
  const sweeper = await benchRuntime(services, 'to-sweeper', overrides);
  const timeoutGroupMs: number[] = [];
  const original = sweeper.collector.timeoutGroup.bind(sweeper.collector);
  sweeper.collector.timeoutGroup = async (groupId, nowMs, removed) => {
    const t = performance.now();
    try {
      return await original(groupId, nowMs, removed);
    } finally {
      timeoutGroupMs.push(performance.now() - t);
    }
  };
  const seen = new Map<string, { deadline: number; timestamp: number; receivedAt: number }>();
  const consumer: Consumer = kafka(services, 'bench-timeouts').consumer({
    groupId: `bench-to-${newId()}`,
    maxWaitTimeInMs: 100,
  });
  let stop = false;
  let loop: Promise<{ sweeps: number; due: number; failed: number }> | undefined;
  const scenarios: PunctualityScenario[] = [];
  let sweeps = 0;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: outcomeTopic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const receivedAt = Date.now();
        const value = JSON.parse(message.value?.toString() ?? '{}') as {
          type?: string;
          id?: string;
          entity?: string;
          created?: string;
        };
        if (value.type !== EVENT_TYPES.failure || value.id !== value.entity || !value.id || !value.created)
          return;
        seen.set(value.id, {
          deadline: Date.parse(value.created) + TTL_SECONDS * 1000,
          timestamp: Number(message.timestamp),
          receivedAt,
        });
      },
    });
    loop = sweepLoop(sweeper, () => stop, SWEEPER.intervalMs);

    // Creation rate on this machine now (a warm-up batch with a far deadline): the margin before the
    // first deadline must cover the creation of every group, or groups would be born overdue.
    const warm = Array.from({ length: 50 }, () => newId());
    const warmStarted = Date.now();
    await processKafkaEvent(
      kafkaEventOf(warm.map((id) => ({ key: id, value: createValue(id, ['a', 'b', 'c'], 3600) }))),
      collector,
    );
    const msPerCreate = (Date.now() - warmStarted) / warm.length;
    // Creates run as CREATE_POLLERS invocations at once (several partitions); bounded so the run stays short.
    const marginMs = Math.min(
      options.maxMarginMs,
      Math.max(options.marginMs, Math.ceil((msPerCreate * options.groups * 1.5) / CREATE_POLLERS) + 2_000),
    );
    log(
      `timeouts: ${round(msPerCreate, 1)} ms per create; first deadline ${marginMs} ms after creation starts`,
    );

    for (const scenario of [
      { name: `spread over ${options.spreadMs / 1000} s`, windowMs: options.spreadMs },
      { name: 'same second', windowMs: 1000 },
    ]) {
      const n = options.groups;
      const first = Date.now() + marginMs;
      const deadlines = Array.from({ length: n }, (_, i) => first + Math.floor((i * scenario.windowMs) / n));
      const ids = deadlines.map(() => newId());
      const creates = ids.map((id) => ({ key: id, value: createValue(id, ['a', 'b', 'c'], TTL_SECONDS) }));
      const late = new Set<string>();
      const starts = Array.from(
        { length: Math.ceil(n / KAFKA_ESM.batchSize) },
        (_, b) => b * KAFKA_ESM.batchSize,
      );
      await pool(starts, CREATE_POLLERS, async (i) => {
        // The collector reads `now` once per record: each group gets its own creation time.
        const times = deadlines.slice(i, i + KAFKA_ESM.batchSize).map((d) => d - TTL_SECONDS * 1000);
        let j = 0;
        await processKafkaEvent(kafkaEventOf(creates.slice(i, i + KAFKA_ESM.batchSize)), collector, () => {
          const t = times[j++];
          if (t === undefined) throw new Error('more records than creation times');
          return t;
        });
        const doneAt = Date.now();
        times.forEach((t, k) => {
          if (t + TTL_SECONDS * 1000 < doneAt) late.add(ids[i + k] as string);
        });
      });
      const lastDeadline = deadlines.at(-1) as number;
      const giveUp = lastDeadline + 60_000;
      while (ids.some((id) => !seen.has(id)) && Date.now() < giveUp) await sleep(100);
      // Groups born after their deadline (creation slower than planned) are counted, not measured.
      const mine = ids.flatMap((id) => {
        const s = late.has(id) ? undefined : seen.get(id);
        return s ? [s] : [];
      });
      const result: PunctualityScenario = {
        name: scenario.name,
        groups: n,
        windowMs: scenario.windowMs,
        published: ids.filter((id) => seen.has(id)).length,
        createdLate: late.size,
        lateByTimestampMs: summary(mine.map((s) => s.timestamp - s.deadline)),
        lateByReceiveMs: summary(mine.map((s) => s.receivedAt - s.deadline)),
        clearedAfterMs: mine.length ? Math.max(...mine.map((s) => s.receivedAt)) - first : Number.NaN,
      };
      log(
        `timeouts ${scenario.name}: ${mine.length}/${n} published; late p50 ${result.lateByTimestampMs.p50} ms, ` +
          `p99 ${result.lateByTimestampMs.p99} ms; all out ${round(result.clearedAfterMs / 1000, 1)} s after the first deadline`,
      );
      scenarios.push(result);
    }
  } finally {
    stop = true;
    sweeps = (await loop?.catch(() => undefined))?.sweeps ?? 0;
    await consumer.disconnect().catch(() => {});
    await collector.close();
    await sweeper.close();
  }
  const decided = Math.max(1, timeoutGroupMs.length);
  return {
    intervalMs: SWEEPER.intervalMs,
    concurrency: SWEEPER.concurrency,
    sweeps,
    timeoutGroupMs: summary(timeoutGroupMs),
    sweeperCallsPerGroup: round(sweeper.trace.calls / decided, 2),
    sweeperMeanCallMs: round(sweeper.trace.ms / Math.max(1, sweeper.trace.calls), 2),
    sweeperPublishMeanMs: round(sweeper.timed.publishMs / Math.max(1, sweeper.timed.publishes), 2),
    scenarios,
  };
}

function kafkaEventOf(records: { key: string; value: string }[]) {
  return {
    eventSource: 'aws:kafka',
    bootstrapServers: '127.0.0.1',
    records: {
      'eventbus-collector-0': records.map((r, i) => ({
        topic: 'eventbus-collector',
        partition: 0,
        offset: i,
        key: Buffer.from(r.key).toString('base64'),
        value: Buffer.from(r.value).toString('base64'),
        headers: [],
      })),
    },
  };
}
