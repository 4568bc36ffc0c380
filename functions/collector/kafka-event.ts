import { z } from 'zod';
import type { SourceRecord } from '#service/collector.ts';

/**
 * The event Lambda's Kafka event source mapping delivers, for Amazon MSK
 * (`aws:kafka`, with `eventSourceArn`) and self-managed Kafka (`SelfManagedKafka`).
 * `key` is absent on keyless records; `value` is base64; headers are byte arrays.
 */
const KafkaRecordSchema = z.object({
  topic: z.string(),
  partition: z.number().int(),
  offset: z.number().int(),
  timestamp: z.number().optional(),
  timestampType: z.string().optional(),
  key: z.string().nullish(),
  value: z.string().nullish(),
  headers: z.array(z.record(z.string(), z.array(z.number().int()))).optional(),
});

export const KafkaEventSchema = z.object({
  eventSource: z.enum(['aws:kafka', 'SelfManagedKafka']),
  eventSourceArn: z.string().optional(),
  bootstrapServers: z.string().optional(),
  records: z.record(z.string(), z.array(KafkaRecordSchema)),
});
export type KafkaEvent = z.infer<typeof KafkaEventSchema>;

export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

/** The records of an event, in partition order, with keys, values and headers as bytes. */
export function recordsOf(event: unknown): SourceRecord[] {
  const parsed = KafkaEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidEventError(`not a Kafka event source mapping event: ${parsed.error.message}`, {
      cause: parsed.error,
    });
  }
  return Object.values(parsed.data.records).flatMap((records) =>
    records.map((r) => ({
      topic: r.topic,
      partition: r.partition,
      offset: r.offset,
      key: r.key == null ? undefined : Buffer.from(r.key, 'base64'),
      value: r.value == null ? null : Buffer.from(r.value, 'base64'),
      headers: (r.headers ?? []).flatMap((h) =>
        Object.entries(h).map(([name, bytes]) => ({ name, value: Buffer.from(bytes) })),
      ),
    })),
  );
}
