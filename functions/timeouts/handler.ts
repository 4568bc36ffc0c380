/**
 * The timeouts function: fed by the table's stream through an event source
 * mapping whose filter passes only TTL deletions of open groups and early
 * reports (TTL_STREAM_FILTERS). An expired open group gets its timeout decided
 * and published; an early report whose group never came is dead-lettered.
 */
import middy from '@middy/core';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { GROUP_STATUS, ITEM_KINDS } from '#shared/config.ts';
import { environmentRuntime, type Runtime } from '#shared/runtime.ts';
import { imageToItem, isTtlRemoval } from '#shared/stream-image.ts';
import type { MemberItem, StateItem } from '#store/dynamo-store.ts';

export interface StreamBatchItemFailures {
  batchItemFailures: { itemIdentifier: string }[];
}

export async function processStreamEvent(
  event: DynamoDBStreamEvent,
  runtime: Runtime,
  now: () => number = Date.now,
): Promise<StreamBatchItemFailures> {
  const { collector, logger } = runtime;
  for (const record of event.Records ?? []) {
    if (!isTtlRemoval(record)) continue;
    const old = imageToItem<StateItem | MemberItem>(
      record.dynamodb?.OldImage as Record<string, Record<string, unknown>> | undefined,
    );
    try {
      if (old?.kind === ITEM_KINDS.state && old.status === GROUP_STATUS.open) {
        logger.info('TTL removed an open group', { group: old.gid });
        await collector.timeoutGroup(old.gid, now(), old);
      } else if (old?.kind === ITEM_KINDS.member && old.early) {
        logger.info('TTL removed an early report', { group: old.gid, member: old.member });
        await collector.expireEarly(old, now(), true);
      }
    } catch (error) {
      // Checkpoint here: Lambda retries from the lowest failed sequence number (ReportBatchItemFailures).
      logger.error('stream record failed; it will be retried', { error, eventID: record.eventID });
      const sequence = record.dynamodb?.SequenceNumber;
      if (!sequence || !runtime.settings.reportBatchItemFailures) throw error;
      return { batchItemFailures: [{ itemIdentifier: sequence }] };
    }
  }
  return { batchItemFailures: [] };
}

export const handler = middy(async (event: DynamoDBStreamEvent, context: Context) => {
  const runtime = await environmentRuntime('timeouts');
  runtime.logger.addContext(context);
  try {
    return await processStreamEvent(event, runtime);
  } finally {
    runtime.metrics.publishStoredMetrics();
  }
});
