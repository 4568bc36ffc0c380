import type { IHeaders, KafkaMessage } from 'kafkajs';
// The event's shape has one definition, beside the collector's schema that reads it.
import type {
  LambdaKafkaEvent,
  LambdaKafkaRecord,
  MskEvent,
  SelfManagedKafkaEvent,
  TimestampType,
} from '../../functions/collector/kafka-event.ts';
import { lowestReportedFailure } from './batch-response.ts';

export type { LambdaKafkaEvent, LambdaKafkaRecord, MskEvent, SelfManagedKafkaEvent, TimestampType };

export type KafkaEventForm = 'msk' | 'self-managed';

export interface KafkaSourceIdentity {
  form: KafkaEventForm;
  /** The MSK cluster ARN (MSK form only). */
  eventSourceArn: string;
  /** Comma-separated, as in the event. */
  bootstrapServers: string;
}

/** A local stand-in for an MSK cluster ARN. */
export const LOCAL_CLUSTER_ARN =
  'arn:aws:kafka:us-east-1:000000000000:cluster/local/00000000-0000-0000-0000-000000000000-1';

/** Headers as Lambda lists them: one object per header value, values as byte arrays. */
export function lambdaHeaders(headers: IHeaders | undefined): Record<string, number[]>[] {
  const list: Record<string, number[]>[] = [];
  for (const [name, raw] of Object.entries(headers ?? {})) {
    if (raw === undefined) continue;
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      list.push({ [name]: value === null ? [] : [...Buffer.from(value)] });
    }
  }
  return list;
}

/** One kafkajs message in the form Lambda puts in `records`. */
export function toLambdaKafkaRecord(
  topic: string,
  partition: number,
  message: KafkaMessage,
  timestampType: TimestampType = 'CREATE_TIME',
): LambdaKafkaRecord {
  return {
    topic,
    partition,
    offset: Number(message.offset),
    timestamp: Number(message.timestamp),
    timestampType,
    ...(message.key == null ? {} : { key: message.key.toString('base64') }),
    ...(message.value == null ? {} : { value: message.value.toString('base64') }),
    headers: lambdaHeaders(message.headers),
  };
}

/** Groups records under `"<topic>-<partition>"`, in the order given, and wraps them in the event. */
export function buildKafkaEvent(
  records: readonly LambdaKafkaRecord[],
  source: KafkaSourceIdentity,
): LambdaKafkaEvent {
  const grouped: Record<string, LambdaKafkaRecord[]> = {};
  for (const record of records) {
    const id = `${record.topic}-${record.partition}`;
    const list = grouped[id] ?? [];
    grouped[id] = list;
    list.push(record);
  }
  return source.form === 'msk'
    ? {
        eventSource: 'aws:kafka',
        eventSourceArn: source.eventSourceArn,
        bootstrapServers: source.bootstrapServers,
        records: grouped,
      }
    : { eventSource: 'SelfManagedKafka', bootstrapServers: source.bootstrapServers, records: grouped };
}

export interface KafkaItemIdentifier {
  partition: string;
  offset: number;
}

/**
 * Index of the lowest record a Kafka partial batch response reports as failed:
 * `{"batchItemFailures":[{"itemIdentifier":{"partition":"<topic>-<n>","offset":<n>}}]}`.
 * -1 = success (no response, null or empty list); 0 = whole batch failed (an identifier
 * that names no record of the batch, or a malformed response).
 * https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html
 */
export function lowestKafkaFailure(records: readonly LambdaKafkaRecord[], response: unknown): number {
  return lowestReportedFailure(response, (itemIdentifier) => {
    const id = itemIdentifier as Partial<KafkaItemIdentifier> | undefined;
    if (id == null) return -1;
    return records.findIndex(
      (r) => `${r.topic}-${r.partition}` === id.partition && r.offset === Number(id.offset),
    );
  });
}

export interface OnFailureContext {
  requestId: string;
  functionArn: string;
  condition: string;
  approximateInvokeCount: number;
  functionError: string | undefined;
  batch: readonly LambdaKafkaRecord[];
  source: KafkaSourceIdentity;
  now: number;
}

/**
 * The value of one message on a Kafka-topic on-failure destination: the failure
 * metadata, `KafkaBatchInfo.recordInfo` of that record, and `payload` (an event holding it).
 * https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure-destination.html
 * https://docs.aws.amazon.com/lambda/latest/dg/with-msk-on-failure.html (metadata fields)
 */
export function onFailureRecord(record: LambdaKafkaRecord, ctx: OnFailureContext): Record<string, unknown> {
  const payload = buildKafkaEvent([record], ctx.source);
  return {
    requestContext: {
      requestId: ctx.requestId,
      functionArn: ctx.functionArn,
      condition: ctx.condition,
      approximateInvokeCount: ctx.approximateInvokeCount,
    },
    responseContext: {
      statusCode: 200,
      executedVersion: '$LATEST',
      functionError: ctx.functionError ?? '',
    },
    version: '1.0',
    timestamp: new Date(ctx.now).toISOString(),
    KafkaBatchInfo: {
      batchSize: ctx.batch.length,
      ...(ctx.source.form === 'msk' ? { eventSourceArn: ctx.source.eventSourceArn } : {}),
      bootstrapServers: ctx.source.bootstrapServers,
      payloadSize: Buffer.byteLength(JSON.stringify(payload)),
      recordInfo: { offset: String(record.offset), timestamp: String(record.timestamp) },
    },
    payload,
  };
}
