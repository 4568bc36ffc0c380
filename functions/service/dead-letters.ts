/**
 * A dead letter: the original record's key, value and headers, unchanged, plus headers that say
 * why it was refused and where it came from (CONTRACT.md "Dead letters").
 */
import type { DeadLetterError } from '#core/errors.ts';
import type { RawRecord } from '#core/model.ts';
import type { OutgoingMessage } from '#publish/publisher.ts';
import { DLQ_HEADERS } from '#shared/config.ts';

export function deadLetterMessage(
  raw: RawRecord,
  error: DeadLetterError,
  destination: string,
): OutgoingMessage {
  const origin = raw.origin;
  return {
    destination,
    key: raw.key ?? null,
    value: raw.value ?? new Uint8Array(),
    headers: [
      // The original headers first, in order and with repeated names kept.
      ...raw.headers,
      { name: DLQ_HEADERS.reason, value: error.reason },
      { name: DLQ_HEADERS.message, value: error.message },
      { name: DLQ_HEADERS.topic, value: origin?.topic ?? '' },
      { name: DLQ_HEADERS.partition, value: origin ? String(origin.partition) : '' },
      { name: DLQ_HEADERS.offset, value: origin ? String(origin.offset) : '' },
    ],
  };
}
