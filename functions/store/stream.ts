/**
 * Reads the table's stream records as the timeouts function needs them: which TTL deletion
 * removed an open group or an early report. The stream's item shapes stay inside functions/store.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import type { ExpiredItem } from '#core/model.ts';
import {
  type CancelItem,
  type ExtendItem,
  earlyCancelOf,
  earlyExtendOf,
  earlyOf,
  type MemberItem,
  type StateItem,
  stateOf,
} from './items.ts';
import { EXTEND_PREFIX, ITEM_KINDS, OPEN } from './layout.ts';
import { imageToItem, isTtlRemoval } from './stream-image.ts';

/** What a TTL deletion removed that still needs handling, or undefined for anything else. */
export function expiredItemOf(record: DynamoDBRecord): ExpiredItem | undefined {
  if (!isTtlRemoval(record)) return undefined;
  const old = imageToItem<StateItem | MemberItem | CancelItem | ExtendItem>(
    record.dynamodb?.OldImage as Record<string, Record<string, unknown>> | undefined,
  );
  if (old?.kind === ITEM_KINDS.state && old.status === OPEN) return { kind: 'group', state: stateOf(old) };
  if (old?.kind === ITEM_KINDS.member && old.early) return { kind: 'early', early: earlyOf(old) };
  if (old?.kind === ITEM_KINDS.command && old.early && old.sk.startsWith(EXTEND_PREFIX))
    return { kind: 'early-extend', early: earlyExtendOf(old as ExtendItem) };
  if (old?.kind === ITEM_KINDS.command && old.early)
    return { kind: 'early-cancel', early: earlyCancelOf(old as CancelItem) };
  if (old?.kind === ITEM_KINDS.state && !old.published) return { kind: 'unpublished', state: stateOf(old) };
  return undefined;
}
