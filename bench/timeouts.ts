/**
 * 4. Timeout punctuality: (timeout published − deadline) for groups whose
 * deadlines are spread over a window and for groups expiring in the same second,
 * with the sweeper running sweepLoop at SWEEPER.intervalMs in-process (as
 * startLocalCollector runs it). All groups of both scenarios are created before
 * the first deadline, so creation load never overlaps the measurement.
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
import { KAFKA_ESM, SWEEPER } from '#shared/aws.ts';
import { EVENT_TYPES } from '#shared/config.ts';
import { processKafkaEvent } from '../functions/collector/handler.ts';
import { sweepLoop } from '../functions/sweeper/handler.ts';
import {
  type BenchRuntime,
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

/**
 * The groups' ttl. Their creation time is passed to the collector as `now` = deadline − ttl, so that
 * each deadline falls exactly where wanted whatever the creation rate; a long ttl keeps that creation
 * time in the past (the group was created earlier, as a real one would be).
 */
const TTL_SECONDS = 600;
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
  /** How the groups were created: all of them before the first deadline of either scenario. */
  creation: { groups: number; seconds: number; msPerCreate: number; marginMs: number; pollers: number };
  /** Wall time of one `collector.timeoutGroups` chunk in the sweeper (reads, decisions, one produce, marks). */
  timeoutGroupMs: ReturnType<typeof summary>;
  /** Groups per chunk, mean. */
  chunkGroups: number;
  /** DynamoDB calls of the sweeper per timed-out group (incl. the index queries), and their mean latency. */
  sweeperCallsPerGroup: number;
  /** The same without the deadline-index Queries (16 per sweep, whatever is due): the calls the groups cause. */
  sweeperCallsPerGroupBesidesIndex: number;
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

/** Creates the groups (records with their creation time as `now`), CREATE_POLLERS batches at once; returns the late ones. */
async function createGroups(
  collector: BenchRuntime,
  groups: { id: string; deadline: number }[],
): Promise<Set<string>> {
  const late = new Set<string>();
  const starts = Array.from(
    { length: Math.ceil(groups.length / KAFKA_ESM.batchSize) },
    (_, b) => b * KAFKA_ESM.batchSize,
  );
  await pool(starts, CREATE_POLLERS, async (i) => {
    const slice = groups.slice(i, i + KAFKA_ESM.batchSize);
    const times = new Map(slice.map((g) => [g.id, g.deadline - TTL_SECONDS * 1000]));
    const records = slice.map((g) => ({ key: g.id, value: createValue(g.id, ['a', 'b', 'c'], TTL_SECONDS) }));
    // The collector reads `now` once per record, in the batch's order. A transient fault (seen under heavy
    // load) is retried with the whole batch, as the event source mapping does: a repeated Create is a duplicate.
    for (let attempt = 1; ; attempt++) {
      let j = 0;
      try {
        const out = await processKafkaEvent(kafkaEventOf(records), collector, () => {
          const g = slice[j++];
          if (!g) throw new Error('more records than creation times');
          return times.get(g.id) as number;
        });
        if (out.batchItemFailures.length === 0) break;
        if (attempt >= 5) throw new Error('timeouts bench: a Create failed 5 times');
      } catch (error) {
        if (attempt >= 5) throw error;
      }
      await sleep(200 * attempt);
    }
    const doneAt = Date.now();
    for (const g of slice) if (g.deadline < doneAt) late.add(g.id);
  });
  return late;
}

export async function punctuality(
  services: Services,
  options: { groups: number; spreadMs: number; gapMs: number; marginMs: number; maxMarginMs: number },
): Promise<PunctualityResult> {
  const tableName = `bench-timeouts-${newId().slice(0, 8)}`;
  await ensureTable(services, tableName);
  const outcomeTopic = await freshTopic(services, 'to-out', 3);
  const deadLetterTopic = await freshTopic(services, 'to-dlq', 1);
  const overrides = { tableName, outcomeTopic, deadLetterTopic };
  const collector = await benchRuntime(services, 'to-collector', overrides);
  const sweeper = await benchRuntime(services, 'to-sweeper', overrides);
  const timeoutGroupMs: number[] = [];
  let chunkedGroups = 0;
  const original = sweeper.collector.timeoutGroups.bind(sweeper.collector);
  sweeper.collector.timeoutGroups = async (groupIds, nowMs, owner, concurrency) => {
    const t = performance.now();
    try {
      return await original(groupIds, nowMs, owner, concurrency);
    } finally {
      timeoutGroupMs.push(performance.now() - t);
      chunkedGroups += groupIds.length;
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
  let creation: PunctualityResult['creation'] | undefined;
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
    loop = sweepLoop(sweeper, () => stop, { intervalMs: SWEEPER.intervalMs });

    // Creation rate on this machine now (warm-up groups with a far deadline, created as the real ones are):
    // the margin before the first deadline must cover the creation of every group of both scenarios.
    const warm = Array.from({ length: 2 * KAFKA_ESM.batchSize }, () => ({
      id: newId(),
      deadline: Date.now() + 3_600_000,
    }));
    const warmStarted = Date.now();
    await createGroups(collector, warm);
    const msPerCreate = (Date.now() - warmStarted) / warm.length;
    const total = 2 * options.groups;
    const marginMs = Math.min(
      options.maxMarginMs,
      Math.max(options.marginMs, Math.ceil(msPerCreate * total * 1.4) + 3_000),
    );
    log(
      `timeouts: ${round(msPerCreate, 1)} ms per create (${CREATE_POLLERS} batches at once); ` +
        `first deadline ${round(marginMs / 1000, 1)} s after creation starts`,
    );

    // Both scenarios are created up front, before either's first deadline; the same-second scenario
    // expires gapMs after the spread one's last deadline, when the sweeper is idle again.
    const first = Date.now() + marginMs;
    const n = options.groups;
    const plan = [
      { name: `spread over ${options.spreadMs / 1000} s`, windowMs: options.spreadMs, start: first },
      { name: 'same second', windowMs: 1000, start: first + options.spreadMs + options.gapMs },
    ].map((p) => ({
      ...p,
      groups: Array.from({ length: n }, (_, i) => ({
        id: newId(),
        deadline: p.start + Math.floor((i * p.windowMs) / n),
      })),
    }));
    const all = plan.flatMap((p) => p.groups);
    const createStarted = Date.now();
    const late = await createGroups(collector, all);
    const createSeconds = (Date.now() - createStarted) / 1000;
    creation = {
      groups: all.length,
      seconds: round(createSeconds, 1),
      msPerCreate: round((createSeconds * 1000) / all.length, 2),
      marginMs,
      pollers: CREATE_POLLERS,
    };
    log(
      `timeouts: ${all.length} groups created in ${round(createSeconds, 1)} s ` +
        `(${round((first - Date.now()) / 1000, 1)} s before the first deadline; ${late.size} created late)`,
    );

    const lastDeadline = Math.max(...all.map((g) => g.deadline));
    const giveUp = lastDeadline + 90_000;
    while (all.some((g) => !seen.has(g.id)) && Date.now() < giveUp) await sleep(100);

    for (const p of plan) {
      // Groups born after their deadline (creation slower than planned) are counted, not measured.
      const mine = p.groups.flatMap((g) => {
        const s = late.has(g.id) ? undefined : seen.get(g.id);
        return s ? [s] : [];
      });
      const result: PunctualityScenario = {
        name: p.name,
        groups: n,
        windowMs: p.windowMs,
        published: p.groups.filter((g) => seen.has(g.id)).length,
        createdLate: p.groups.filter((g) => late.has(g.id)).length,
        lateByTimestampMs: summary(mine.map((s) => s.timestamp - s.deadline)),
        lateByReceiveMs: summary(mine.map((s) => s.receivedAt - s.deadline)),
        clearedAfterMs: mine.length ? Math.max(...mine.map((s) => s.receivedAt)) - p.start : Number.NaN,
      };
      log(
        `timeouts ${p.name}: ${result.published}/${n} published; late p50 ${result.lateByTimestampMs.p50} ms, ` +
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
  const decided = Math.max(
    1,
    scenarios.reduce((n, s) => n + s.published, 0),
  );
  return {
    intervalMs: SWEEPER.intervalMs,
    concurrency: SWEEPER.concurrency,
    sweeps,
    creation: creation ?? { groups: 0, seconds: 0, msPerCreate: 0, marginMs: 0, pollers: CREATE_POLLERS },
    timeoutGroupMs: summary(timeoutGroupMs),
    chunkGroups: round(chunkedGroups / Math.max(1, timeoutGroupMs.length), 1),
    sweeperCallsPerGroup: round(sweeper.trace.calls / decided, 2),
    // Groups of 3 are read by key (BatchGetItem): the sweeper's only Queries are the index's.
    sweeperCallsPerGroupBesidesIndex: round(
      (sweeper.trace.calls - (sweeper.trace.byCommand.QueryCommand ?? 0)) / decided,
      2,
    ),
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
