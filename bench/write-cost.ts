/**
 * 3. Write cost per report and per group, measured with ReturnConsumedCapacity on
 * DynamoDB Local: the collector's layout (a small group in one item; a larger group's
 * reports in write-once pages committed by its STATE) side by side with the naive design
 * (one item per group holding every result, updated in place), in the same run.
 * Members report in an arrival order: `shuffled` (the headline: members finish in any
 * order, in batches of the mapping's size), `member` (expected order, in batches) or
 * `trickle` (shuffled, one report per invocation).
 */
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Services } from '#local/services/index.ts';
import { KAFKA_ESM } from '#shared/aws.ts';
import { CapacityMeter } from '#store/capacity.ts';
import { processKafkaEvent } from '../functions/collector/handler.ts';
import {
  type BenchRuntime,
  benchRuntime,
  createValue,
  doneValue,
  dynamoClient,
  kafkaEvent,
  log,
  memberIds,
  newId,
  resultOf,
  round,
} from './lib.ts';

export interface DesignCost {
  /** Mean WCU per report (all reports but the last, which carries the decision). */
  wcuPerReport: number;
  /** WCU of the whole group: create, every report, shard marks, decision, published mark. */
  wcuPerGroup: number;
  rcuPerGroup: number;
  /** WCU of the last report alone (the most expensive in the naive design). */
  wcuLastReport: number;
  /** Reports stored before the item hit DynamoDB's 400 KB limit (naive only), if it did. */
  failedAtReport?: number;
  completed: boolean;
  /** Capacity units of the whole group by DynamoDB command (collector only). */
  byCommand?: Record<string, number>;
  /** DynamoDB calls per report (all reports but the last) and for the whole group (collector only). */
  callsPerReport?: number;
  callsPerGroup?: number;
}

/** How a group's reports reach the collector. */
export type ArrivalOrder = 'shuffled' | 'member' | 'trickle';

/** A fixed shuffle (deterministic, so runs compare). */
export function shuffled<T>(items: readonly T[]): T[] {
  let seed = 0x2545f491;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Capacity units by DynamoDB command since `before` (a copy of the trace's counters), divided by
 * `per` (groups measured at once); commands with none left out.
 */
export function capacitySince(
  runtime: BenchRuntime,
  before: Record<string, number>,
  per = 1,
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(runtime.trace.capacityByCommand)
      .map(([k, v]) => [k.replace('Command', ''), round((v - (before[k] ?? 0)) / per, 2)] as const)
      .filter(([, v]) => v > 0),
  );
}

export interface WriteCostRow {
  groupSize: number;
  resultBytes: number;
  order?: ArrivalOrder;
  collector: DesignCost;
  naive: DesignCost;
}

export async function collectorCost(
  runtime: BenchRuntime,
  groupSize: number,
  resultBytes: number,
  order: ArrivalOrder = 'shuffled',
  /** A `tolerate` or `quorum` group (every report a success). */
  policy: { tolerate?: number; quorum?: number } = {},
): Promise<DesignCost> {
  const meter = runtime.store.meter;
  const calls0 = runtime.trace.calls;
  const w0 = meter.write;
  const r0 = meter.read;
  const by0 = { ...runtime.trace.capacityByCommand };
  const group = newId();
  const ids = memberIds(group, groupSize);
  const result = resultOf(resultBytes);
  await processKafkaEvent(
    kafkaEvent([{ key: group, value: createValue(group, ids, 900, undefined, policy) }]),
    runtime,
  );
  const report = (id: string) => ({ key: group, value: doneValue(group, id, result) });
  const beforeReports = meter.write;
  const callsBefore = runtime.trace.calls;
  const arriving = order === 'member' ? ids.slice(0, groupSize - 1) : shuffled(ids.slice(0, groupSize - 1));
  const batch = order === 'trickle' ? 1 : KAFKA_ESM.batchSize;
  for (let i = 0; i < arriving.length; i += batch) {
    await processKafkaEvent(kafkaEvent(arriving.slice(i, i + batch).map(report)), runtime);
  }
  const reportsWcu = meter.write - beforeReports;
  const reportCalls = runtime.trace.calls - callsBefore;
  const beforeLast = meter.write;
  await processKafkaEvent(kafkaEvent([report(ids[groupSize - 1] as string)]), runtime);
  const wcuPerGroup = round(meter.write - w0, 2);
  const rcuPerGroup = round(meter.read - r0, 2);
  const byCommand = capacitySince(runtime, by0);
  const state = await runtime.store.getState(group);
  return {
    wcuPerReport: round(reportsWcu / Math.max(1, groupSize - 1), 3),
    wcuPerGroup,
    rcuPerGroup,
    wcuLastReport: round(meter.write - beforeLast, 2),
    completed: state?.status === 'succeeded',
    byCommand,
    callsPerReport: round(reportCalls / Math.max(1, groupSize - 1), 3),
    callsPerGroup: runtime.trace.calls - calls0,
  };
}

/**
 * The naive design: Create puts one item {results: {}}; each report sets
 * results.#m on it (conditional on the group being open); the last report reads
 * the item back to publish the outcome.
 */
async function naiveCost(
  doc: DynamoDBDocumentClient,
  tableName: string,
  groupSize: number,
  resultBytes: number,
): Promise<DesignCost> {
  const meter = new CapacityMeter();
  const group = newId();
  const key = { pk: `NAIVE#${group}`, sk: 'GROUP' };
  const ids = memberIds(group, groupSize);
  const result = resultOf(resultBytes);
  const put = await doc.send(
    new PutCommand({
      TableName: tableName,
      Item: { ...key, kind: 'naive', status: 'open', expected: ids, results: {} },
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnConsumedCapacity: 'TOTAL',
    }),
  );
  meter.add(put.ConsumedCapacity, 'write');
  let reportsWcu = 0;
  let last = 0;
  for (let i = 0; i < groupSize; i++) {
    const before = meter.write;
    try {
      const out = await doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression: 'SET results.#m = :r ADD reported :one',
          ConditionExpression: '#st = :open AND attribute_not_exists(results.#m)',
          ExpressionAttributeNames: { '#m': ids[i] as string, '#st': 'status' },
          ExpressionAttributeValues: { ':r': JSON.stringify(result), ':one': 1, ':open': 'open' },
          ReturnValues: 'UPDATED_NEW',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      meter.add(out.ConsumedCapacity, 'write');
    } catch (error) {
      if (error instanceof Error && /size has exceeded|item size|maximum allowed size/i.test(error.message)) {
        return {
          wcuPerReport: round(reportsWcu / Math.max(1, i), 3),
          wcuPerGroup: round(meter.write, 2),
          rcuPerGroup: round(meter.read, 2),
          wcuLastReport: round(last, 2),
          failedAtReport: i + 1,
          completed: false,
        };
      }
      throw error;
    }
    last = meter.write - before;
    if (i < groupSize - 1) reportsWcu += last;
  }
  // The last report decides: mark the group and read it back to publish every result.
  const decide = await doc.send(
    new UpdateCommand({
      TableName: tableName,
      Key: key,
      UpdateExpression: 'SET #st = :done',
      ConditionExpression: '#st = :open',
      ExpressionAttributeNames: { '#st': 'status' },
      ExpressionAttributeValues: { ':done': 'succeeded', ':open': 'open' },
      ReturnConsumedCapacity: 'TOTAL',
    }),
  );
  meter.add(decide.ConsumedCapacity, 'write');
  last += decide.ConsumedCapacity?.CapacityUnits ?? 0;
  const read = await doc.send(
    new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }),
  );
  meter.add(read.ConsumedCapacity, 'read');
  return {
    wcuPerReport: round(reportsWcu / Math.max(1, groupSize - 1), 3),
    wcuPerGroup: round(meter.write, 2),
    rcuPerGroup: round(meter.read, 2),
    wcuLastReport: round(last, 2),
    completed: true,
  };
}

export async function writeCost(
  services: Services,
  options: { sizes: number[]; resultBytes: number[]; probeLimit: boolean },
): Promise<{ rows: WriteCostRow[]; naiveLimit?: { resultBytes: number; failedAtReport: number } }> {
  const runtime = await benchRuntime(services, 'cost');
  const client = dynamoClient(services);
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const rows: WriteCostRow[] = [];
  try {
    for (const resultBytes of options.resultBytes) {
      for (const groupSize of options.sizes) {
        const collector = await collectorCost(runtime, groupSize, resultBytes);
        const naive = await naiveCost(doc, services.tableName, groupSize, resultBytes);
        log(
          `write cost ${groupSize} x ${resultBytes} B: collector ${collector.wcuPerReport} WCU/report, ` +
            `${collector.wcuPerGroup} WCU/group; naive ${naive.wcuPerReport} WCU/report, ${naive.wcuPerGroup} WCU/group` +
            (naive.failedAtReport ? ` (400 KB limit at report ${naive.failedAtReport})` : ''),
        );
        rows.push({ groupSize, resultBytes, collector, naive });
      }
    }
    // Where the naive item hits 400 KB with the smallest results (the collector has no such limit).
    const smallest = Math.min(...options.resultBytes);
    const known = rows.find((r) => r.resultBytes === smallest && r.naive.failedAtReport);
    let naiveLimit: { resultBytes: number; failedAtReport: number } | undefined;
    if (known?.naive.failedAtReport) {
      naiveLimit = { resultBytes: smallest, failedAtReport: known.naive.failedAtReport };
    } else if (options.probeLimit) {
      const probe = await naiveCost(doc, services.tableName, 10_000, smallest);
      if (probe.failedAtReport) naiveLimit = { resultBytes: smallest, failedAtReport: probe.failedAtReport };
    }
    return { rows, naiveLimit };
  } finally {
    client.destroy();
    await runtime.close();
  }
}
