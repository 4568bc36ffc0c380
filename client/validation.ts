/**
 * Refuse before sending: every event the client publishes is first decoded by
 * the collector's own decoder (`decodeValue`, the same zod schemas and LIMITS),
 * from the very bytes that would be sent. A refusal becomes a ValidationError
 * naming the field; nothing is published.
 */
import { ZodError } from 'zod';
import { utf8Bytes } from '../functions/core/canonical.ts';
import { DeadLetterError, DLQ_REASONS } from '../functions/core/errors.ts';
import { type Decoded, type DecodeLimits, decodeValue } from '../functions/core/events.ts';
import { LIMITS } from '../functions/shared/config.ts';
import { ValidationError } from './errors.ts';

/** Encodes `event` and checks it as the collector would; returns the bytes to send. */
export function encodeChecked(event: Record<string, unknown>, limits: DecodeLimits): Buffer {
  let text: string;
  try {
    text = JSON.stringify(event);
  } catch (cause) {
    const field = 'payload' in event ? 'payload' : 'result';
    throw new ValidationError(field, DLQ_REASONS.invalidField, `"${field}" is not JSON: ${describe(cause)}`, {
      cause,
    });
  }
  const bytes = Buffer.from(text, 'utf8');
  try {
    decodeValue(bytes, limits);
  } catch (error) {
    if (!(error instanceof DeadLetterError)) throw error;
    throw new ValidationError(fieldOf(error, event), error.reason, error.message, { cause: error });
  }
  return bytes;
}

/**
 * Checks one record value exactly as given (the `group-collector produce` command's records, which
 * are text, not events the client builds) with the same decoder and the same ValidationError as
 * {@link encodeChecked}. Resolves to what the collector will do with it: act on an input, or ignore
 * one of its own outcomes.
 */
export function checkValue(value: string, limits: DecodeLimits): Decoded {
  const bytes = Buffer.from(value, 'utf8');
  try {
    return decodeValue(bytes, limits);
  } catch (error) {
    if (!(error instanceof DeadLetterError)) throw error;
    const event = objectOf(value);
    const field =
      event === undefined
        ? '(value)'
        : error.reason === DLQ_REASONS.unknownType || typeof event.type !== 'string'
          ? 'type'
          : fieldOf(error, event);
    throw new ValidationError(field, error.reason, error.message, { cause: error });
  }
}

function objectOf(value: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The field a dead-letter refusal is about (the decoder says why; the event says where). */
function fieldOf(error: DeadLetterError, event: Record<string, unknown>): string {
  const isCreate = 'expected' in event;
  const valueField = isCreate ? 'payload' : 'result';
  switch (error.reason) {
    case DLQ_REASONS.emptyExpected:
    case DLQ_REASONS.duplicateExpected:
    case DLQ_REASONS.tooManyMembers:
      return 'expected';
    case DLQ_REASONS.ttlOutOfRange:
      return 'ttl';
    case DLQ_REASONS.tolerateOutOfRange:
      return 'tolerate';
    case DLQ_REASONS.quorumOutOfRange:
      return 'quorum';
    case DLQ_REASONS.messageTooLarge:
      return 'message';
    case DLQ_REASONS.payloadTooLarge:
      return 'payload';
    case DLQ_REASONS.resultTooLarge:
      return typeof event.error === 'string' && utf8Bytes(event.error) > LIMITS.maxErrorBytes
        ? 'error'
        : 'result';
    case DLQ_REASONS.idTooLong:
      return tooLong(event.id) ? 'id' : isCreate ? 'expected' : 'group';
    case DLQ_REASONS.valueTooLarge:
      return largest(event);
    case DLQ_REASONS.invalidField: {
      if (error.cause instanceof ZodError) {
        const head = error.cause.issues[0]?.path[0];
        if (head !== undefined) return String(head);
      }
      // Not a schema issue: a lone surrogate in an id or error, or a value nested too deep.
      const candidates = isCreate ? ['id', 'expected'] : ['id', 'group', 'error', 'message'];
      return candidates.find((name) => !wellFormed(event[name])) ?? valueField;
    }
    default:
      return '(value)';
  }
}

const tooLong = (id: unknown) => typeof id === 'string' && utf8Bytes(id) > LIMITS.maxIdBytes;

const wellFormed = (value: unknown): boolean =>
  typeof value === 'string'
    ? (value as string & { isWellFormed(): boolean }).isWellFormed()
    : Array.isArray(value)
      ? value.every(wellFormed)
      : true;

function largest(event: Record<string, unknown>): string {
  let best = '(value)';
  let bestSize = -1;
  for (const [name, value] of Object.entries(event)) {
    const size = JSON.stringify(value ?? null).length;
    if (size > bestSize) [best, bestSize] = [name, size];
  }
  return best;
}

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e));
