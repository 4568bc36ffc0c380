/**
 * The decision of a group's outcome (one conditional write of STATE, the outcome inline or in OUT items)
 * and the publish lease that lets one actor at a time publish it.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DecisionInput, Group, GroupState, GroupStatus, StoredReport } from '#core/model.ts';
import type { OutcomeSignature } from '#core/signing.ts';
import { ifConditionHolds, itemBytes, StorePart, stateOrNone } from './context.ts';
import {
  openStateItem,
  refEntryOf,
  type SingleEntry,
  type StateItem,
  singleEntryOf,
  singleStateItem,
  storedSignature,
} from './items.ts';
import { chunk, ITEM_KINDS, keys, OPEN } from './layout.ts';

export class Decisions extends StorePart {
  /**
   * The one conditional write that decides a group's outcome: its state moves from open to
   * `status` and the outcome bytes are stored, atomically.
   * - `before-deadline` (success, member failure): only while open and before the deadline.
   * - `after-deadline` (timeout): only while open and at or after the deadline.
   * - `recreate` (timeout after TTL removed the state): only if the state is absent.
   * Returns false when another decision won (the caller reads the winner's).
   */
  async decide(args: DecisionArgs): Promise<boolean> {
    return (await this.decideOutcome(args)).won;
  }

  /**
   * `decide`, telling the loser where the winner left the group (read from the failed condition, no
   * second read). The winning write also claims the outcome's publish for `owner` (PublishClaim):
   * in the normal path only the decider publishes. A lost reply retried by the SDK finds its own
   * decision (same owner and time) and still wins.
   */
  async decideOutcome(args: DecisionArgs): Promise<DecisionResult> {
    const { group, nowMs } = args;
    const owner = args.owner ?? '';
    const claimUntil = nowMs + this.publishClaimMs;
    const gid = group.definition.id;
    const expiresAt = Math.ceil(nowMs / 1000) + this.retentionSeconds;
    const decision = `${nowMs}-${randomUUID().slice(0, 8)}`;
    const base = {
      outcomeKey: decision,
      status: args.status,
      resolvedMs: nowMs,
      outcomeTopic: group.outcomeTopic,
      expiresAt,
      publishClaimBy: owner,
      publishClaimUntil: claimUntil,
      // Decided once with its signature: a copy republished by anyone, later, carries these bytes.
      ...(args.signature ? { sig: storedSignature(args.signature) } : {}),
    };
    // A small outcome lives in STATE itself when the decided STATE still fits one write unit (1 KB):
    // the decision and the published mark then cost 1 WCU each and no OUT item is written.
    const single = this.isSingle(group.definition);
    // A small group's STATE also holds its definition and reports (estimated from the reports the
    // outcome was built from; without them it is not kept inline).
    const stateBytes = single
      ? args.reports === undefined
        ? Number.POSITIVE_INFINITY
        : itemBytes({ ...singleStateItem(group, expiresAt), ...base, outcomeChunks: 0 }) +
          args.reports.reduce(
            (sum, r) =>
              sum + 40 + Math.min(Buffer.byteLength(r.result), 300) + Buffer.byteLength(r.error ?? ''),
            0,
          ) +
          INLINE_MARGIN_BYTES
      : itemBytes({ ...openStateItem(group, expiresAt), ...base, outcomeChunks: 0 });
    // A timeout is decided in bursts (the sweeper, a hundred at a time): there one call fewer per group
    // (no OUT item) is worth a second write unit for the decision and the mark; otherwise one unit.
    const inlineLimit = args.mode === 'before-deadline' ? 1024 : 4 * 1024;
    // A larger group's outcome built again from its pages when published (`input`): no bytes stored.
    const rebuilt = args.input !== undefined && args.mode !== 'recreate';
    const inline =
      !rebuilt && stateBytes + 'outcome'.length + args.outcome.length + INLINE_MARGIN_BYTES <= inlineLimit;
    const chunks = inline || rebuilt ? [] : chunk(args.outcome);
    // Otherwise this decision's own outcome items, written first and unconditionally: the state names the
    // winner's, so a losing decision's bytes are never read (they expire with the group's data). No
    // transaction: single-item writes cost half as much.
    await Promise.all(
      chunks.map(async (data, n) => {
        const out = await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...keys.outcome(gid, n, decision),
              kind: ITEM_KINDS.outcome,
              data,
              expiresAt: this.dataExpiresAt(group),
            },
            ReturnConsumedCapacity: 'TOTAL',
          }),
        );
        this.meter.add(out.ConsumedCapacity, 'write');
      }),
    );
    const decided = {
      ...base,
      outcomeChunks: chunks.length,
      ...(inline ? { outcome: args.outcome } : {}),
      ...(rebuilt ? { oin: args.input } : {}),
    };
    // A small group's TTL-removed state, whose redelivered Create may have started it again.
    const redone = args.mode === 'recreate' && single && args.removed !== undefined;
    const stateWrite =
      args.mode === 'recreate'
        ? new PutCommand({
            TableName: this.tableName,
            // Back in the deadline index until published: the sweeper republishes an outcome whose publish failed.
            Item: {
              ...(single ? singleStateItem(group, expiresAt) : openStateItem(group, expiresAt)),
              ...(single && args.removed ? { r: removedEntries(args.removed) } : {}),
              // A larger group's committed pages, as the removed state counted them.
              ...(!single && args.removed?.pages !== undefined
                ? {
                    pages: args.removed.pages,
                    reported: args.removed.reported ?? 0,
                    failedCount: args.removed.failedCount ?? 0,
                    ...(args.removed.tail?.length ? { tail: args.removed.tail } : {}),
                    ...(args.removed.voids?.length ? { voids: new Set(args.removed.voids) } : {}),
                  }
                : {}),
              ...decided,
              dlAt: claimUntil,
            },
            // A stub (events kept after TTL removed the group) is replaced; a group's state is not,
            // except (a small group) the one its own Create started again when redelivered after the
            // removal: same definition, created after the removed one's deadline. That Create was a
            // duplicate: the first group's outcome stands and the accidental group goes with it.
            ConditionExpression: redone
              ? 'attribute_not_exists(#st) OR (#st = :open AND createdMs >= :removedDl AND #def.defHash = :h)'
              : 'attribute_not_exists(#st)',
            ExpressionAttributeNames: redone ? { '#st': 'status', '#def': 'def' } : { '#st': 'status' },
            ...(redone
              ? {
                  ExpressionAttributeValues: {
                    ':open': OPEN,
                    ':removedDl': args.removed?.deadlineMs,
                    ':h': group.defHash,
                  },
                }
              : {}),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            ReturnConsumedCapacity: 'TOTAL',
          })
        : new UpdateCommand({
            TableName: this.tableName,
            Key: keys.state(gid),
            UpdateExpression: `SET #st = :status, resolvedMs = :now, outcomeChunks = :chunks, outcomeKey = :key, outcomeTopic = :topic, expiresAt = :exp, publishClaimBy = :by, publishClaimUntil = :until${base.sig ? ', sig = :sig' : ''}${inline ? ', outcome = :bytes' : ''}${rebuilt ? ', oin = :oin' : ''}`,
            // The outcome was built for one deadline (an Extend moves it): decided only under it.
            ConditionExpression: `${
              args.mode === 'before-deadline'
                ? '#st = :open AND deadlineMs > :at'
                : '#st = :open AND deadlineMs <= :now'
            }${args.deadlineMs === undefined ? '' : ' AND deadlineMs = :dl'}${
              args.reportCount === undefined ? '' : single ? ' AND size(r) = :n' : ' AND reported = :n'
            }`,
            ExpressionAttributeNames: { '#st': 'status' },
            ExpressionAttributeValues: {
              ':status': args.status,
              ':now': nowMs,
              ...(args.mode === 'before-deadline' ? { ':at': Math.min(args.atMs ?? nowMs, nowMs) } : {}),
              ':chunks': chunks.length,
              ':key': decision,
              ':topic': group.outcomeTopic,
              ':exp': expiresAt,
              ':open': OPEN,
              ':by': owner,
              ':until': claimUntil,
              ...(base.sig ? { ':sig': base.sig } : {}),
              ...(inline ? { ':bytes': args.outcome } : {}),
              ...(rebuilt ? { ':oin': args.input } : {}),
              ...(args.deadlineMs === undefined ? {} : { ':dl': args.deadlineMs }),
              ...(args.reportCount === undefined ? {} : { ':n': args.reportCount }),
            },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            ReturnConsumedCapacity: 'TOTAL',
          });
    try {
      const out =
        stateWrite instanceof PutCommand ? await this.doc.send(stateWrite) : await this.doc.send(stateWrite);
      this.meter.add(out.ConsumedCapacity, 'write');
      return { won: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const old = stateOrNone(error.Item ? (unmarshall(error.Item) as StateItem) : undefined);
      // Our own decision, applied by an attempt whose reply was lost and retried by the SDK.
      if (old?.outcomeKey === decision) return { won: true };
      // Recreate: a state exists; before/after deadline: the state is open (the other side of the
      // deadline) or decided, or absent (TTL removed it).
      return { won: false, current: old };
    }
  }

  /**
   * Takes the publish lease of a decided, unpublished outcome: granted when it is free, lapsed, or
   * already `owner`'s (a retry of the same work). Returns whether `owner` may publish now.
   */
  async claimPublish(groupId: string, owner: string, nowMs: number): Promise<boolean> {
    const out = await ifConditionHolds(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.state(groupId),
          UpdateExpression: 'SET publishClaimBy = :me, publishClaimUntil = :until',
          ConditionExpression:
            'attribute_exists(pk) AND #st <> :open AND attribute_not_exists(published) AND ' +
            '(attribute_not_exists(publishClaimUntil) OR publishClaimUntil <= :now OR publishClaimBy = :me)',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: {
            ':me': owner,
            ':until': nowMs + this.publishClaimMs,
            ':now': nowMs,
            ':open': OPEN,
          },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
    this.meter.add(out?.ConsumedCapacity, 'write');
    return out !== undefined;
  }

  /** Gives a publish lease back after a failed publish, so that a retry by anyone publishes at once. */
  async releasePublish(groupId: string, owner: string): Promise<void> {
    await ifConditionHolds(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.state(groupId),
          UpdateExpression: 'SET publishClaimUntil = :zero',
          ConditionExpression: 'publishClaimBy = :me AND attribute_not_exists(published)',
          ExpressionAttributeValues: { ':zero': 0, ':me': owner },
        }),
      ),
    );
  }

  /** The stored outcome bytes of a decided group. */
  async loadOutcome(state: GroupState): Promise<Buffer> {
    if (state.outcomeInput) throw new RangeError(`group ${state.groupId}'s outcome is built from its pages`);
    const parts = state.outcomeParts;
    if (state.status !== 'open' && state.outcomeInline) return Buffer.from(state.outcomeInline);
    if (state.status === 'open' || parts === undefined) {
      throw new RangeError(`group ${state.groupId} has no stored outcome`);
    }
    const chunks = await Promise.all(
      Array.from({ length: parts }, async (_, n) => {
        const out = await this.doc.send(
          new GetCommand({
            TableName: this.tableName,
            Key: keys.outcome(state.groupId, n, state.outcomeKey),
            ConsistentRead: true,
          }),
        );
        const data = out.Item?.data as Uint8Array | undefined;
        if (!data) throw new Error(`outcome chunk ${n} of group ${state.groupId} is missing`);
        return Buffer.from(data);
      }),
    );
    return Buffer.concat(chunks);
  }

  /** Marks the outcome published (the broker acknowledged it) at `atMs`, kept for inspection; the group then leaves the deadline index. */
  async markPublished(groupId: string, atMs: number = Date.now()): Promise<void> {
    const out = await ifConditionHolds(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.state(groupId),
          // Leaving the deadline index only now: until its outcome is published, a decided group stays
          // where the sweeper looks, so an outcome whose publish failed is published again.
          // The first acknowledged publish's time is kept; a later copy changes nothing of it.
          UpdateExpression:
            'SET published = :t, publishedMs = if_not_exists(publishedMs, :at) REMOVE dlShard, dlAt',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':t': true, ':at': atMs },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
    this.meter.add(out?.ConsumedCapacity, 'write');
  }
}

/** Room left in a decided STATE for attributes added later (`published`, `doneShards`) when inlining its outcome. */
const INLINE_MARGIN_BYTES = 48;

/** Where a decision left the group: won by this call, or the state the winner left (undefined: TTL removed it). */
export type DecisionResult = { won: true } | { won: false; current: GroupState | undefined };

/** How a decision is conditioned: see `decide`. */
export type DecisionMode = 'before-deadline' | 'after-deadline' | 'recreate';

export interface DecisionArgs {
  group: Group;
  status: Exclude<GroupStatus, 'open'>;
  mode: DecisionMode;
  nowMs: number;
  /**
   * When the deciding event happened (a Cancel kept before its Create: the group's creation); a
   * `before-deadline` decision holds only while the deadline is after it. Default `nowMs`.
   */
  atMs?: number;
  outcome: Uint8Array;
  /** Who takes the publish lease with the decision (PublishClaim.by); '' when nobody can take it back. */
  owner?: string;
  /** The deadline the outcome was built for: the decision holds only while STATE still has it. */
  deadlineMs?: number;
  /**
   * A small group (LAYOUT.single): how many reports the outcome was built from; the decision holds
   * only while STATE still has that many, so a report stored meanwhile is never left out.
   */
  reportCount?: number;
  /** A small group whose STATE TTL removed (`recreate`): its definition and reports go back with the decision. */
  removed?: GroupState;
  /** The reports the outcome was built from: a small group's STATE holds them (its size decides inline bytes). */
  reports?: readonly StoredReport[];
  /**
   * A larger group (decided under `reportCount` committed pages): what its outcome was built from
   * besides them, stored instead of its bytes, which are built again when published.
   */
  input?: DecisionInput;
  /**
   * The outcome's signature (signing on), stored in the decision's own write: whoever publishes a
   * copy later publishes it, whatever key set it holds then.
   */
  signature?: OutcomeSignature;
}

/** A removed small group's report entries as its STATE stored them. */
function removedEntries(state: GroupState): Record<string, SingleEntry> {
  const entries: Record<string, SingleEntry> = {};
  const expected = state.single?.group.definition.expected ?? [];
  const at = (member: string) => String(expected.indexOf(member));
  for (const r of state.single?.reports ?? [])
    entries[at(r.member)] = singleEntryOf(r, Number.POSITIVE_INFINITY);
  for (const r of state.single?.referenced ?? []) entries[at(r.member)] = refEntryOf(r.atMs, r.failed);
  return entries;
}
