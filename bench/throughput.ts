/**
 * 1. Throughput of reports through the collector (processKafkaEvent in-process,
 * batches of 100) against the raw rate of conditional UpdateItem calls on the
 * same DynamoDB Local, in the same run, at the same concurrency.
 */
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Services } from '#local/services/index.ts';
import { KAFKA_ESM } from '#shared/aws.ts';
import { processKafkaEvent } from '../functions/collector/handler.ts';
import {
  type BenchRecord,
  type BenchRuntime,
  benchRuntime,
  createValue,
  doneValue,
  dynamoClient,
  kafkaEvent,
  log,
  memberIds,
  newId,
  pool,
  resultOf,
  round,
  shuffle,
} from './lib.ts';

/** The collector handler applies at most this many records of a batch at once (functions/collector/handler.ts). */
export const HANDLER_CONCURRENCY = 16;

export interface RawRate {
  concurrency: number;
  calls: number;
  seconds: number;
  perSecond: number;
  /** The two measurements that bracket the collector's run (perSecond is their mean). */
  before?: number;
  after?: number;
}

export interface ThroughputRow {
  groupSize: number;
  groups: number;
  reports: number;
  batches: number;
  seconds: number;
  reportsPerSecond: number;
  /** Mean records applied at once: min(handler concurrency, records of the batch), Creates and the rest in turn. */
  effectiveConcurrency: number;
  dynamoCallsPerReport: number;
  writesPerReport: number;
  readsPerReport: number;
  callsByCommand: Record<string, number>;
  raw: RawRate;
  /** Collector reports/s ÷ (raw UpdateItem/s ÷ DynamoDB calls per report). Target ≥ 0.5. */
  efficiency: number;
  /** Same with writes only (report pages and their commits, the decision amortised). */
  efficiencyWritesOnly: number;
  succeeded: number;
}

/** Conditional UpdateItem calls on fresh items, `concurrency` at a time, through the document client. */
export async function rawUpdateRate(
  services: Services,
  concurrency: number,
  calls: number,
): Promise<RawRate> {
  const client = dynamoClient(services);
  const doc = DynamoDBDocumentClient.from(client);
  const run = newId();
  const items = Array.from({ length: calls }, (_, i) => i);
  // Warm-up: connections and the JIT.
  await pool(items.slice(0, Math.min(100, calls)), concurrency, async (i) => {
    await update(doc, services.tableName, `BENCH#warm#${run}#${i}`);
  });
  const started = performance.now();
  await pool(items, concurrency, async (i) => {
    await update(doc, services.tableName, `BENCH#raw#${run}#${i}`);
  });
  const seconds = (performance.now() - started) / 1000;
  client.destroy();
  return { concurrency, calls, seconds: round(seconds, 3), perSecond: round(calls / seconds, 1) };
}

function update(doc: DynamoDBDocumentClient, tableName: string, pk: string) {
  return doc.send(
    new UpdateCommand({
      TableName: tableName,
      Key: { pk, sk: 'R' },
      UpdateExpression: 'SET v = :v, kind = :k',
      ConditionExpression: 'attribute_not_exists(pk)',
      ExpressionAttributeValues: { ':v': 1, ':k': 'bench' },
      ReturnConsumedCapacity: 'TOTAL',
    }),
  );
}

async function createGroups(runtime: BenchRuntime, groups: { id: string; members: string[] }[]) {
  const creates: BenchRecord[] = groups.map((g) => ({ key: g.id, value: createValue(g.id, g.members, 900) }));
  for (let i = 0; i < creates.length; i += KAFKA_ESM.batchSize) {
    const out = await processKafkaEvent(kafkaEvent(creates.slice(i, i + KAFKA_ESM.batchSize)), runtime);
    if (out.batchItemFailures.length > 0) throw new Error('create failed in the throughput bench');
  }
}

export async function throughput(
  services: Services,
  options: { sizes: { groupSize: number; groups: number }[]; rawCalls: number; resultBytes: number },
): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  // A fresh DynamoDB Local JVM speeds up for its first few thousand calls (JIT): warm it first, so the
  // first group size is not measured against a cold store.
  await rawUpdateRate(services, HANDLER_CONCURRENCY, options.rawCalls);
  for (const { groupSize, groups: groupCount } of options.sizes) {
    const runtime = await benchRuntime(services, `tp${groupSize}`);
    try {
      const groups = Array.from({ length: groupCount }, () => {
        const id = newId();
        return { id, members: memberIds(id, groupSize) };
      });
      await createGroups(runtime, groups);
      const result = resultOf(options.resultBytes);
      // Members of all open groups finish in random order: their reports interleave on the partition.
      const reports: BenchRecord[] = shuffle(
        groups.flatMap((g) => g.members.map((m) => ({ key: g.id, value: doneValue(g.id, m, result) }))),
        groupSize,
      );
      const batches: ReturnType<typeof kafkaEvent>[] = [];
      let atOnce = 0;
      for (let i = 0; i < reports.length; i += KAFKA_ESM.batchSize) {
        const slice = reports.slice(i, i + KAFKA_ESM.batchSize);
        // The handler applies the batch's records (all reports here: the groups exist) 16 at a time.
        atOnce += Math.min(HANDLER_CONCURRENCY, slice.length);
        batches.push(kafkaEvent(slice));
      }
      const effectiveConcurrency = Math.max(1, Math.round(atOnce / batches.length));
      // Raw rate at the same concurrency, measured just before and just after (same section, same load).
      const rawBefore = await rawUpdateRate(services, effectiveConcurrency, options.rawCalls);
      const calls0 = runtime.trace.calls;
      const by0 = { ...runtime.trace.byCommand };
      const w0 = runtime.timed.publishes;
      const started = performance.now();
      for (const event of batches) {
        const out = await processKafkaEvent(event, runtime);
        if (out.batchItemFailures.length > 0) throw new Error('report failed in the throughput bench');
      }
      const seconds = (performance.now() - started) / 1000;
      const rawAfter = await rawUpdateRate(services, effectiveConcurrency, options.rawCalls);
      const raw: RawRate = {
        concurrency: effectiveConcurrency,
        calls: rawBefore.calls + rawAfter.calls,
        seconds: round(rawBefore.seconds + rawAfter.seconds, 3),
        perSecond: round((rawBefore.perSecond + rawAfter.perSecond) / 2, 1),
        before: rawBefore.perSecond,
        after: rawAfter.perSecond,
      };
      const calls = runtime.trace.calls - calls0;
      const byCommand: Record<string, number> = {};
      for (const [k, v] of Object.entries(runtime.trace.byCommand)) {
        const d = v - (by0[k] ?? 0);
        if (d > 0) byCommand[k] = round(d / reports.length, 3);
      }
      const writes = ['PutItemCommand', 'UpdateItemCommand', 'TransactWriteItemsCommand', 'DeleteItemCommand']
        .map((k) => byCommand[k] ?? 0)
        .reduce((a, b) => a + b, 0);
      const callsPerReport = calls / reports.length;
      const reportsPerSecond = reports.length / seconds;
      const row: ThroughputRow = {
        groupSize,
        groups: groupCount,
        reports: reports.length,
        batches: batches.length,
        seconds: round(seconds, 3),
        reportsPerSecond: round(reportsPerSecond, 1),
        effectiveConcurrency,
        dynamoCallsPerReport: round(callsPerReport, 3),
        writesPerReport: round(writes, 3),
        readsPerReport: round(callsPerReport - writes, 3),
        callsByCommand: byCommand,
        raw,
        efficiency: round(reportsPerSecond / (raw.perSecond / callsPerReport), 3),
        efficiencyWritesOnly: round(reportsPerSecond / (raw.perSecond / writes), 3),
        succeeded: runtime.timed.publishes - w0,
      };
      log(
        `throughput groups of ${groupSize}: ${row.reportsPerSecond} reports/s, ${effectiveConcurrency} at once; ` +
          `raw UpdateItem ${raw.perSecond}/s (before ${raw.before}, after ${raw.after}); ` +
          `${row.dynamoCallsPerReport} calls/report; efficiency ${row.efficiency}`,
      );
      rows.push(row);
    } finally {
      await runtime.close();
    }
  }
  return rows;
}

export interface CopiesResult {
  groups: number;
  /** Outcome messages produced for those groups, by both invocations together. */
  outcomes: number;
  copiesPerGroup: number;
}

/**
 * Copies per group without any fault (issue 21 item 1): groups of 3 whose first member has reported;
 * the last two reports of every group, each sent twice, reach two invocations (two execution
 * environments, different partitions) at the same moment. Counts the outcome messages produced.
 */
export async function copiesPerGroup(services: Services, groupCount: number): Promise<CopiesResult> {
  const first = await benchRuntime(services, 'copies-1');
  const second = await benchRuntime(services, 'copies-2', {
    outcomeTopic: first.settings.outcomeTopic,
    deadLetterTopic: first.settings.deadLetterTopic,
  });
  try {
    const groups = Array.from({ length: groupCount }, () => ({ id: newId(), members: ['a', 'b', 'c'] }));
    await createGroups(first, groups);
    await processKafkaEvent(
      kafkaEvent(groups.map((g) => ({ key: g.id, value: doneValue(g.id, 'a', { by: 'a' }) }))),
      first,
    );
    const lastTwo = (partition: number): BenchRecord[] =>
      groups.flatMap((g) => [
        { key: g.id, partition, value: doneValue(g.id, 'b', { by: 'b' }) },
        { key: g.id, partition, value: doneValue(g.id, 'c', { by: 'c' }) },
      ]);
    const m1 = first.timed.messages;
    const m2 = second.timed.messages;
    await Promise.all([
      processKafkaEvent(kafkaEvent(lastTwo(1)), first),
      processKafkaEvent(kafkaEvent(lastTwo(2)), second),
    ]);
    const outcomes = first.timed.messages - m1 + (second.timed.messages - m2);
    const result = { groups: groupCount, outcomes, copiesPerGroup: round(outcomes / groupCount, 3) };
    log(`copies: ${outcomes} outcomes for ${groupCount} groups (${result.copiesPerGroup} per group)`);
    return result;
  } finally {
    await first.close();
    await second.close();
  }
}
