/**
 * The collector function: consumes the topic through the Kafka event source
 * mapping (MSK or self-managed) and applies each record. Thin: decode, call
 * the collector service, shape the response.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { RecordResult } from '#service/collector.ts';
import { FUNCTIONS } from '#shared/aws.ts';
import { BatchFailedError, settleAll } from '#shared/batch.ts';
import { EVENT_TYPES } from '#shared/config.ts';
import { lambdaHandler } from '#shared/lambda.ts';
import { METRIC_NAMES } from '#shared/metrics.ts';
import type { Runtime } from '#shared/runtime.ts';
import { type InputRecord, recordsOf } from './kafka-event.ts';

export interface BatchItemFailures {
  batchItemFailures: { itemIdentifier: { partition: string; offset: number } }[];
}

/** Records applied at once within one batch. */
const CONCURRENCY = 64;

/**
 * The lane of a record, read cheaply (the collector validates later): Creates of one group, or reports
 * of one member, keep their offset order (the first Create and the first report win); everything else
 * runs in parallel.
 */
function laneOf(record: InputRecord, index: number): { create: boolean; lane: string } {
  try {
    const v = JSON.parse(record.value ? Buffer.from(record.value).toString('utf8') : '') as {
      type?: unknown;
      id?: unknown;
      group?: unknown;
    };
    if (v.type === EVENT_TYPES.create) return { create: true, lane: `c:${String(v.id)}` };
    if (v.type === EVENT_TYPES.done)
      return { create: false, lane: `r:${String(v.group)}\u0000${String(v.id)}` };
  } catch {
    // Not JSON: it will be dead-lettered; it waits for nothing.
  }
  return { create: false, lane: `x:${index}` };
}

export async function processKafkaEvent(
  event: unknown,
  runtime: Runtime,
  now: () => number = Date.now,
  onRecord?: (record: InputRecord, result: PromiseSettledResult<RecordResult>) => void,
): Promise<BatchItemFailures> {
  const { collector, logger, settings } = runtime;
  const records = recordsOf(event);
  // Creates first, then everything else: a report in the same batch as its Create then finds its group
  // (order does not matter for correctness, guarantee 4, but the early path costs more writes).
  // Different lanes run concurrently: every write is conditional or idempotent.
  const results: PromiseSettledResult<RecordResult>[] = new Array(records.length);
  const phases = [new Map<string, number[]>(), new Map<string, number[]>()];
  records.forEach((record, i) => {
    const { create, lane } = laneOf(record, i);
    const phase = phases[create ? 0 : 1] as Map<string, number[]>;
    const list = phase.get(lane) ?? [];
    list.push(i);
    phase.set(lane, list);
  });
  for (const lanes of phases) {
    await settleAll([...lanes.values()], CONCURRENCY, async (indexes) => {
      for (const i of indexes) {
        const record = records[i] as InputRecord;
        try {
          results[i] = { status: 'fulfilled', value: await collector.handleRecord(record, now()) };
        } catch (reason) {
          results[i] = { status: 'rejected', reason };
        }
      }
    });
  }
  const failures: BatchItemFailures['batchItemFailures'] = [];
  const counts: Record<string, number> = {};
  results.forEach((result, i) => {
    const record = records[i];
    if (!record) return;
    onRecord?.(record, result);
    const where = record.origin;
    if (result.status === 'rejected') {
      logger.error('record failed; the event source mapping will retry it', {
        ...where,
        error: result.reason,
      });
      failures.push({
        itemIdentifier: { partition: `${where.topic}-${where.partition}`, offset: where.offset },
      });
      counts.failed = (counts.failed ?? 0) + 1;
      return;
    }
    const outcome = result.value;
    counts[outcome.status] = (counts[outcome.status] ?? 0) + 1;
    if (outcome.status === 'dead') {
      // Payloads stay out of the logs unless COLLECTOR_LOG_PAYLOADS is set: they may carry personal data.
      const value = settings.logPayloads
        ? { value: record.value ? Buffer.from(record.value).toString('base64') : null }
        : {};
      logger.warn('record dead-lettered', {
        ...where,
        reason: outcome.reason,
        detail: outcome.message,
        ...value,
      });
    }
  });
  logger.info('batch processed', { records: records.length, ...counts });
  runtime.metrics.addMetric(METRIC_NAMES.recordsProcessed, MetricUnit.Count, records.length);
  if (failures.length > 0 && !settings.reportBatchItemFailures) {
    const first = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    throw new BatchFailedError(`${failures.length} of ${records.length} records failed`, {
      cause: first?.reason,
    });
  }
  return { batchItemFailures: failures };
}

export const handler = lambdaHandler(FUNCTIONS.collector.name, (event: unknown, runtime) =>
  processKafkaEvent(event, runtime),
);
