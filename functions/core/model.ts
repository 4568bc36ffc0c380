/**
 * The collector's domain, as the service and the store speak of it: a group as created,
 * its status, a member's stored report, a report waiting for its group. No storage detail
 * (keys, attribute names, item kinds) appears here: those belong to functions/store.
 */
import { canonicalJson, sha256 } from './canonical.ts';
import type { CancelRequest, ExtendRequest, GroupDefinition, MemberReport } from './events.ts';
import type { OutcomeSignature } from './signing.ts';

/**
 * Where a group stands. `open` until exactly one decision moves it to one of the others
 * (`cancelled`: decided by rules.ts `statusOf`).
 */
export type GroupStatus = 'open' | 'succeeded' | 'failed' | 'timedout' | 'cancelled';

/**
 * Tells a redelivered Create (same hash) from a conflicting one. `tolerate` and `quorum` count only
 * when a group has them (canonicalJson drops undefined keys), so a plain group hashes as it did
 * by earlier versions and a Create redelivered across the upgrade is still a duplicate; `quorum: 2` and
 * `quorum: 2, tolerate: n − 2` are one definition.
 */
export function definitionHash(definition: GroupDefinition): string {
  return sha256(
    canonicalJson({
      id: definition.id,
      expected: definition.expected,
      ttl: definition.ttlSeconds,
      payload: definition.payload === undefined ? null : JSON.parse(definition.payload),
      replyTo: definition.replyTo ?? null,
      tolerate: definition.tolerate,
      quorum: definition.quorum,
    }),
  );
}

/** A created group: its definition plus what the Create fixed for good. Immutable once stored. */
export interface Group {
  definition: GroupDefinition;
  /** SHA-256 of the definition's canonical form: tells a redelivered Create from a conflicting one. */
  defHash: string;
  /** Where the outcome goes: `replyTo`, or the outcome topic configured when the group was created. */
  outcomeTopic: string;
  createdMs: number;
  deadlineMs: number;
}

/** The mutable side of a group: its status and whether its outcome has been published. */
export interface GroupState {
  groupId: string;
  status: GroupStatus;
  createdMs: number;
  deadlineMs: number;
  ttlSeconds: number;
  published: boolean;
  /** When the outcome was first acknowledged by the broker (epoch ms), once published. */
  publishedMs?: number;
  /** Set once decided: where the stored outcome goes. */
  outcomeTopic?: string;
  resolvedMs?: number;
  /** Set once decided: how many parts the store keeps the outcome bytes in (read back by the store only). */
  outcomeParts?: number;
  /** Set once decided: which decision's stored bytes are the outcome (read back by the store only). */
  outcomeKey?: string;
  /** Set once decided when the outcome is small enough to live in the state itself (read back by the store only). */
  outcomeInline?: Uint8Array;
  /**
   * Set once decided for a larger group whose outcome bytes are not stored: what it was built from
   * besides its committed pages (immutable once decided), so that the same bytes are built again.
   */
  outcomeInput?: DecisionInput;
  /**
   * Set once decided with signing on: the outcome's signature, made with the decision and stored in
   * the same write, so that every copy (republished by anyone, after a key rotation too) carries it.
   */
  signature?: OutcomeSignature;
  /**
   * Set once decided: who may publish the outcome (the decider, or a later claimer) and until when
   * (epoch ms). Anyone else publishes only once the claim has lapsed unpublished.
   */
  publishClaim?: PublishClaim;
  /** A small group's definition and reports, kept in its state item (DESIGN.md "Items"); read back by the store only. */
  single?: SingleItemGroup;
  /**
   * Events were kept for this group id before its Create: a report may have an early copy in its
   * member item, so reports go through it (its first report may be that copy) instead of straight
   * into the state item or a counter shard.
   */
  hadEarly?: boolean;
  /** The Extends stored for the group (each stored and put in force by one write), by record origin: their first stored time. */
  extendedAt?: Record<string, number>;
  /** A larger group's committed report pages, the entries in them (duplicates included) and errors among them. */
  pages?: number;
  reported?: number;
  failedCount?: number;
  /** Committed page numbers that hold nothing. */
  voids?: number[];
  /**
   * Reports committed into STATE itself, after the committed pages (a lone small report costs one
   * write); the next page commit moves them into its page. Each: member index, stored time, result, error.
   */
  tail?: readonly { i: number; at: number; res: string; err?: string }[];
  /** Events kept before the Create were adopted: reports of the group may be committed. */
  adopted?: boolean;
}

/** What the state item of a small group holds besides its status (one item per group). */
export interface SingleItemGroup {
  group: Group;
  /** Reports stored in the state item itself. */
  reports: StoredReport[];
  /** Members whose report is stored in its own member item (too large for the state item). */
  referenced: { member: string; failed: boolean; atMs: number }[];
  /** How many members have reported: a decision is conditioned on it, so no report lands unseen. */
  count: number;
}

/** A lease on publishing a decided outcome: one publisher in the normal path. */
export interface PublishClaim {
  /** Who holds it: the origin of the record being handled, `sweeper`, or `ttl` (a retry of the same work takes it back). */
  by: string;
  untilMs: number;
}

/** A member's report as stored (the first one wins). */
export interface StoredReport {
  member: string;
  /** JSON text of `result` (`null` when absent). */
  result: string;
  error: string | undefined;
  /** When the report was stored (epoch ms). */
  atMs: number;
  /** Set when its result was not loaded (a read bounded in memory): `result` is `null`, this many bytes are missing. */
  unloaded?: number;
}

/** Where a Kafka record came from: its topic, partition and offset. */
export interface RecordOrigin {
  topic: string;
  partition: number;
  offset: number;
}

/** The original bytes of an input record, kept so that a dead letter carries exactly what was sent. */
export interface RawRecord {
  key: Uint8Array | undefined;
  value: Uint8Array | null;
  /** In record order; a name may repeat (Kafka allows it). */
  headers: { name: string; value: Uint8Array }[];
  origin: RecordOrigin | undefined;
  /** Set when the event source delivered the record in a shape the collector cannot read (why). */
  malformed?: string;
}

/**
 * Who handles an early event. `adopt`: an actor with the group (its Create, a report, a decision, an
 * expiry that found the group) applies it; the claim names its holder and lapses, so a redelivery of
 * the same holder takes it back and another actor takes it over once it lapsed. `dead`: its expiry
 * found the group absent and condemned it in the same transaction as that check, so no Create can
 * come between: it is dead-lettered (again, by whoever finds it so) and never counts.
 */
export type EarlyClaim = 'adopt' | 'dead';

/** A report whose group did not exist when it arrived: kept with its raw record for a possible dead letter. */
export interface EarlyReport {
  report: MemberReport;
  atMs: number;
  raw: RawRecord;
  claim: EarlyClaim | undefined;
}

/**
 * A Cancel whose group did not exist when it arrived: kept (one per group id, the first wins) with
 * its raw record, claimed like an early report by the group's Create or by its expiry.
 */
export interface EarlyCancel {
  cancel: CancelRequest;
  atMs: number;
  raw: RawRecord;
  claim: EarlyClaim | undefined;
}

/**
 * An Extend whose group did not exist when it arrived: kept under its origin (several per
 * group) with its raw record and first stored time, claimed like an early Cancel.
 */
export interface EarlyExtend {
  extend: ExtendRequest;
  /** `topic:partition:offset` of its record: its key `CMD#extend#<origin>`. */
  origin: string;
  atMs: number;
  raw: RawRecord;
  claim: EarlyClaim | undefined;
}

/**
 * A due entry of the deadline index: a group whose deadline passed, or an early report or early
 * Cancel whose wait ran out.
 */
export type DueEntry =
  | { kind: 'group'; groupId: string }
  | { kind: 'early'; groupId: string; member: string }
  | { kind: 'early-cancel'; groupId: string }
  | { kind: 'early-extend'; groupId: string; origin: string };

/** What the TTL stream handler can be told by a TTL deletion. */
export type ExpiredItem =
  | { kind: 'group'; state: GroupState }
  | { kind: 'early'; early: EarlyReport }
  | { kind: 'early-cancel'; early: EarlyCancel }
  | { kind: 'early-extend'; early: EarlyExtend }
  | { kind: 'unpublished'; state: GroupState };

/**
 * What a larger group's outcome is built from besides its committed pages and its STATE (deadline in
 * force, decision time): stored with the decision instead of the outcome's bytes.
 */
export interface DecisionInput {
  /** The outcome's kind as decided: `success`, `member-failure`, `timeout`, `cancelled`. */
  kind: 'success' | 'member-failure' | 'timeout' | 'cancelled';
  /** A plain group's failing member and error. */
  entity?: string;
  error?: string;
  /** A Cancel's message. */
  message?: string;
  /** The result bytes held in memory when it was built (the outcome limit then). */
  budget: number;
}
