import { z } from 'zod';
import type { RawRecord, RecordOrigin } from '#core/model.ts';

/**
 * The one definition of the event Lambda's Kafka event source mapping delivers (the local
 * emulator builds its events with `LambdaKafkaEvent`, below), for Amazon MSK
 * (`aws:kafka`, with `eventSourceArn`) and self-managed Kafka (`SelfManagedKafka`).
 * `key` is absent on keyless records; `value` is base64; headers are byte arrays.
 * Not Powertools' Kafka schemas: they decode `value` and `key` to UTF-8 text and header bytes code
 * point by code point, and require `value`, whereas a dead letter must carry the original bytes
 * exactly and a tombstone (no value) must become a dead letter, not fail the batch.
 */
const KafkaRecordSchema = z.object({
  topic: z.string(),
  partition: z.number().int(),
  offset: z.number().int(),
  timestamp: z.number().optional(),
  timestampType: z.string().optional(),
  key: z.string().nullish(),
  value: z.string().nullish(),
  // Kafka allows a header without a value: kept with an empty value.
  headers: z.array(z.record(z.string(), z.array(z.number().int().min(0).max(255)).nullable())).optional(),
});

/** Where a record sits: enough to report it as a batch item failure or to dead-letter it. */
const RecordPositionSchema = z.object({
  topic: z.string(),
  partition: z.number().int(),
  offset: z.number().int(),
});

/**
 * The envelope is checked as a whole, each record on its own: one oddly shaped record is
 * dead-lettered alone instead of failing every record of the batch.
 */
export const KafkaEventSchema = z.object({
  eventSource: z.enum(['aws:kafka', 'SelfManagedKafka']),
  eventSourceArn: z.string().optional(),
  bootstrapServers: z.string().optional(),
  records: z.record(z.string(), z.array(RecordPositionSchema.loose())),
});

/**
 * The Kafka event Lambda builds for MSK and self-managed Apache Kafka:
 * https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html (event example),
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kafka.html,
 * Powertools parser types KafkaMskEvent / KafkaSelfManagedEvent.
 */
export type TimestampType = 'CREATE_TIME' | 'LOG_APPEND_TIME';

export interface LambdaKafkaRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: TimestampType;
  /** Base64; absent when the record has no key (powertools-lambda-python #6508). */
  key?: string;
  /**
   * Base64; absent for a tombstone (null value). Lambda's documentation does not
   * show this case; events observed by Powertools users carry no `value` for a
   * tombstone (powertools-lambda-typescript #5016, fixed by PR #5017), the same
   * way a keyless record carries no `key`.
   */
  value?: string;
  /** One single-entry object per header, the value as a list of byte values. */
  headers: Record<string, number[]>[];
}

export interface MskEvent {
  eventSource: 'aws:kafka';
  eventSourceArn: string;
  bootstrapServers: string;
  records: Record<string, LambdaKafkaRecord[]>;
}

export interface SelfManagedKafkaEvent {
  eventSource: 'SelfManagedKafka';
  bootstrapServers: string;
  records: Record<string, LambdaKafkaRecord[]>;
}

export type LambdaKafkaEvent = MskEvent | SelfManagedKafkaEvent;

// The types above are what Lambda sends; the schema below must accept every one of them.
const acceptsLambdaRecords: z.input<typeof KafkaRecordSchema> = {} as LambdaKafkaRecord;
void acceptsLambdaRecords;

export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

/** One input record: its original bytes and where it came from. */
export interface InputRecord extends RawRecord {
  origin: RecordOrigin;
}

/** The records of an event, in partition order, with keys, values and headers as bytes. */
export function recordsOf(event: unknown): InputRecord[] {
  const parsed = KafkaEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidEventError(`not a Kafka event source mapping event: ${parsed.error.message}`, {
      cause: parsed.error,
    });
  }
  return Object.values(parsed.data.records).flatMap((records) =>
    records.map((position): InputRecord => {
      const origin = { topic: position.topic, partition: position.partition, offset: position.offset };
      const record = KafkaRecordSchema.safeParse(position);
      if (!record.success) {
        const raw = position as { key?: unknown; value?: unknown };
        return {
          origin,
          key: typeof raw.key === 'string' ? Buffer.from(raw.key, 'base64') : undefined,
          value: typeof raw.value === 'string' ? Buffer.from(raw.value, 'base64') : null,
          headers: [],
          malformed: record.error.issues[0]
            ? `${record.error.issues[0].path.join('.') || '(record)'}: ${record.error.issues[0].message}`
            : 'unreadable record',
        };
      }
      const r = record.data;
      return {
        origin,
        key: r.key == null ? undefined : Buffer.from(r.key, 'base64'),
        value: r.value == null ? null : Buffer.from(r.value, 'base64'),
        headers: (r.headers ?? []).flatMap((h) =>
          Object.entries(h).map(([name, bytes]) => ({ name, value: Buffer.from(bytes ?? []) })),
        ),
      };
    }),
  );
}
