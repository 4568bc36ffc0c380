/**
 * The timeouts function: fed by the table's stream through an event source mapping whose filter
 * passes only TTL deletions of open groups, early reports and early commands (Cancel, Extend) and
 * of unpublished outcomes (TTL_STREAM_FILTERS). An expired open group gets its timeout decided and
 * published; an early report or command whose group never came is dead-lettered. Records go through Powertools' batch processor: a failed record is reported by
 * its sequence number and Lambda retries from the lowest one (ReportBatchItemFailures).
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { FUNCTIONS } from '#shared/aws.ts';
import { BatchFailedError } from '#shared/batch.ts';
import { lambdaHandler } from '#shared/lambda.ts';
import { METRIC_NAMES } from '#shared/metrics.ts';
import type { Runtime } from '#shared/runtime.ts';
import { expiredItemOf } from '#store/stream.ts';

export interface StreamBatchItemFailures {
  batchItemFailures: { itemIdentifier: string }[];
}

export async function processStreamEvent(
  event: DynamoDBStreamEvent,
  runtime: Runtime,
  now: () => number = Date.now,
): Promise<StreamBatchItemFailures> {
  const { collector, logger } = runtime;
  const handleRecord = async (record: DynamoDBRecord) => {
    const expired = expiredItemOf(record);
    try {
      if (expired?.kind === 'group') {
        logger.info('TTL removed an open group', { group: expired.state.groupId });
        await collector.timeoutGroup(expired.state.groupId, now(), expired.state);
      } else if (expired?.kind === 'unpublished') {
        logger.error('TTL removed a decided group whose outcome was never published; publishing it now', {
          group: expired.state.groupId,
        });
        runtime.metrics.addMetric(METRIC_NAMES.unpublishedAtExpiry, MetricUnit.Count, 1);
        await collector.ensurePublished(expired.state, now(), { removed: true });
      } else if (expired?.kind === 'early') {
        const { group, member } = expired.early.report;
        logger.info('TTL removed an early report', { group, member });
        await collector.expireEarly(expired.early, now(), true);
      } else if (expired?.kind === 'early-extend') {
        logger.info('TTL removed an early Extend', { group: expired.early.extend.group });
        await collector.expireEarlyExtend(expired.early, now(), true);
      } else if (expired?.kind === 'early-cancel') {
        logger.info('TTL removed an early Cancel', { group: expired.early.cancel.group });
        await collector.expireEarlyCancel(expired.early, now(), true);
      }
    } catch (error) {
      logger.error('stream record failed; it will be retried', { error, eventID: record.eventID });
      throw error;
    }
  };
  const records = event.Records ?? [];
  runtime.metrics.addMetric(METRIC_NAMES.streamRecords, MetricUnit.Count, records.length);
  const response = await processPartialResponse(
    { Records: records },
    handleRecord,
    new BatchProcessor(EventType.DynamoDBStreams),
    { throwOnFullBatchFailure: false, processInParallel: false },
  );
  if (response.batchItemFailures.length > 0) {
    if (!runtime.settings.reportBatchItemFailures) {
      throw new BatchFailedError(
        `${response.batchItemFailures.length} of ${records.length} stream records failed`,
      );
    }
  }
  return {
    batchItemFailures: response.batchItemFailures.map((f) => ({ itemIdentifier: String(f.itemIdentifier) })),
  };
}

export const handler = lambdaHandler(FUNCTIONS.timeouts.name, (event: DynamoDBStreamEvent, runtime) =>
  processStreamEvent(event, runtime),
);
