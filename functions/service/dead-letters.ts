/**
 * A dead letter: the original record's key, value and headers, unchanged, plus headers that say
 * why it was refused and where it came from (CONTRACT.md "Dead letters"). A record too large to
 * publish again whole (near the broker's message limit) keeps the first bytes of its value, with
 * headers giving the original size and SHA-256, so that the dead letter itself is never refused.
 */
import { createHash } from 'node:crypto';
import type { DeadLetterError } from '#core/errors.ts';
import type { RawRecord } from '#core/model.ts';
import type { OutgoingMessage } from '#publish/publisher.ts';
import { DLQ_HEADERS, LIMITS } from '#shared/config.ts';

export function deadLetterMessage(
  raw: RawRecord,
  error: DeadLetterError,
  destination: string,
  limits: { maxBytes: number; keepBytes: number } = {
    maxBytes: LIMITS.maxDeadLetterBytes,
    keepBytes: LIMITS.deadLetterKeepBytes,
  },
): OutgoingMessage {
  const origin = raw.origin;
  const value = raw.value ?? new Uint8Array();
  const headerBytes = raw.headers.reduce((n, h) => n + Buffer.byteLength(h.name) + h.value.length, 0);
  const size = value.length + (raw.key?.length ?? 0) + headerBytes;
  const cut = size > limits.maxBytes;
  return {
    destination,
    key: raw.key ?? null,
    value: cut ? value.subarray(0, limits.keepBytes) : value,
    headers: [
      // The original headers first, in order and with repeated names kept.
      ...(cut ? [] : raw.headers),
      { name: DLQ_HEADERS.reason, value: error.reason },
      { name: DLQ_HEADERS.message, value: error.message },
      { name: DLQ_HEADERS.topic, value: origin?.topic ?? '' },
      { name: DLQ_HEADERS.partition, value: origin ? String(origin.partition) : '' },
      { name: DLQ_HEADERS.offset, value: origin ? String(origin.offset) : '' },
      ...(cut
        ? [
            { name: DLQ_HEADERS.truncated, value: 'true' },
            { name: DLQ_HEADERS.originalSize, value: String(value.length) },
            { name: DLQ_HEADERS.originalSha256, value: createHash('sha256').update(value).digest('hex') },
            { name: DLQ_HEADERS.originalHeaders, value: String(raw.headers.length) },
          ]
        : []),
    ],
  };
}
