/**
 * What the collector's use cases share: their settings, what handling a record comes to, and who
 * acts for a record (claims and publish leases name their holder).
 */
import { randomUUID } from 'node:crypto';
import { DeadLetterError, DLQ_REASONS } from '#core/errors.ts';
import type { DecodeLimits } from '#core/events.ts';
import type { RawRecord } from '#core/model.ts';

export interface CollectorSettings extends DecodeLimits {
  outcomeTopic: string;
  deadLetterTopic: string;
  earlyReportWaitSeconds: number;
  maxOutcomeBytes: number;
}

export type RecordResult =
  | {
      status: 'accepted';
      action:
        | 'created'
        | 'duplicate-create'
        | 'reported'
        | 'early'
        | 'duplicate-report'
        | 'cancelled'
        | 'extended';
    }
  | { status: 'ignored'; reason: 'outcome-type' | 'late' }
  | { status: 'dead'; reason: string; message: string };

export const late: RecordResult = { status: 'ignored', reason: 'late' };

/**
 * Who takes a publish lease while handling this record: its origin, so that a redelivery of the same
 * record (after a lost reply or a crash) takes back the lease its first delivery took.
 */
/**
 * Who acts: the record being handled (its topic/partition/offset), so that a redelivery of a record
 * whose handler died takes back its own claims and publish lease at once; anything else acts as a
 * fresh holder. Claims and leases name their holder, and no two concurrent actors share one.
 */
/**
 * Whether an early event was recorded before another: by first stored time, and at the same
 * millisecond by offset when both came from the same partition (its order is the recording order).
 * At the same millisecond on different partitions they were concurrent: the earlier one counts first.
 */
export function recordedBefore(
  a: { atMs: number; raw: RawRecord },
  b: { atMs: number; raw: RawRecord },
): boolean {
  if (a.atMs !== b.atMs) return a.atMs < b.atMs;
  const x = a.raw.origin;
  const y = b.raw.origin;
  if (!x || !y || x.topic !== y.topic || x.partition !== y.partition) return true;
  return x.offset < y.offset;
}

export function ownerOf(raw: RawRecord | undefined): string {
  const o = raw?.origin;
  return o ? `${o.topic}/${o.partition}/${o.offset}` : `run/${randomUUID()}`;
}

/** The expiry of an early record (sweeper, or TTL): never the same holder as the record's own delivery. */
export function expiryOwner(raw: RawRecord, removedByTtl: boolean): string {
  return `${removedByTtl ? 'ttl' : 'expire'}/${ownerOf(raw)}`;
}

export const notExpected = (member: string, group: string) =>
  new DeadLetterError(
    DLQ_REASONS.memberNotExpected,
    `member "${member}" is not expected by group "${group}"`,
  );
