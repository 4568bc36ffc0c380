import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { CancelRequest, ExtendRequest, MemberReport } from '#core/events.ts';
import type { EarlyCancel, EarlyClaim, EarlyExtend, EarlyReport, Group, RawRecord } from '#core/model.ts';
import { ifConditionHolds, itemBytes, type StoreContext, StorePart } from './context.ts';
import {
  type CancelItem,
  type ExtendItem,
  earlyCancelOf,
  earlyExtendOf,
  earlyOf,
  type MemberItem,
  rawFields,
  type StateItem,
} from './items.ts';
import {
  deadlineShard,
  EXTEND_PREFIX,
  epochSeconds,
  groupPartition,
  ITEM_KINDS,
  keys,
  LAYOUT,
} from './layout.ts';
import { type MemberItems, memberItem } from './members.ts';

export class EarlyEvents extends StorePart {
  constructor(
    context: StoreContext,
    private readonly members: MemberItems,
  ) {
    super(context);
  }

  /**
   * Keeps a report whose group does not exist yet, with its original record, for `waitMs`.
   * Returns false when a report of this member was already kept (the first one wins).
   */
  async keepEarly(
    report: MemberReport,
    raw: RawRecord,
    nowMs: number,
    waitMs: number,
  ): Promise<'kept' | 'duplicate' | 'too-large' | 'too-many' | 'created'> {
    const item: MemberItem = {
      ...memberItem(report, nowMs, epochSeconds(nowMs + waitMs)),
      early: true,
      ...rawFields(raw),
      dlShard: deadlineShard(`${report.group}/${report.member}`),
      dlAt: nowMs + waitMs,
    };
    // The raw record and its parsed report together are bounded (and always under an item's 400 KB).
    if (itemBytes(item) > Math.min(this.earlyLimits.maxBytes, LAYOUT.maxItemBytes)) return 'too-large';
    return this.keepCounted(item, report.group, true);
  }

  /**
   * Puts an early item (report, Cancel, Extend) and counts it in its group id's EARLY item, in one
   * transaction: a retry of an applied write (lost reply, redelivery) finds the item stored and
   * cancels, so it never counts twice. `capped`: refused (`too-many`) once the group id has
   * `earlyLimits.maxPerGroup` early items. EARLY outlives the items it counts, so a Create that
   * finds none knows nothing waits for it (`hasEarlyEvents`).
   */
  private async keepCounted(
    item: { pk: string; sk: string; expiresAt: number },
    groupId: string,
    capped: boolean,
  ): Promise<'kept' | 'duplicate' | 'too-many' | 'created'> {
    try {
      const out = await this.doc.send(
        new TransactWriteCommand({
          ReturnConsumedCapacity: 'TOTAL',
          TransactItems: [
            {
              Put: { TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' },
            },
            {
              // Kept only while the group does not exist: the Create writes this same item, so DynamoDB
              // orders the two, and the Create sees `hadEarly` (in its reply, or its read after it).
              Update: {
                TableName: this.tableName,
                Key: keys.state(groupId),
                UpdateExpression:
                  'SET kind = :kind, gid = :gid, hadEarly = :t, expiresAt = :e ADD earlyN :one',
                ConditionExpression: capped
                  ? 'attribute_not_exists(#st) AND (attribute_not_exists(earlyN) OR earlyN < :max)'
                  : 'attribute_not_exists(#st)',
                ExpressionAttributeNames: { '#st': 'status' },
                ExpressionAttributeValues: {
                  ':kind': ITEM_KINDS.earlyCount,
                  ':gid': groupId,
                  ':t': true,
                  ':e': item.expiresAt + LAYOUT.definitionMarginSeconds,
                  ':one': 1,
                  ...(capped ? { ':max': this.earlyLimits.maxPerGroup } : {}),
                },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
          ],
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      return 'kept';
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [itemReason, countReason] = error.CancellationReasons ?? [];
      // The same record (or member) kept already: a duplicate, whatever the count says.
      if (itemReason?.Code === 'ConditionalCheckFailed') return 'duplicate';
      if (countReason?.Code === 'ConditionalCheckFailed') {
        const old = countReason.Item ? (unmarshall(countReason.Item) as Partial<StateItem>) : undefined;
        return old?.status !== undefined ? 'created' : 'too-many';
      }
      throw error;
    }
  }

  /** A report still waiting for its group, if any. */
  async getEarly(groupId: string, member: string): Promise<EarlyReport | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.member(groupId, member), ConsistentRead: true }),
    );
    const item = out.Item as MemberItem | undefined;
    return item?.early ? earlyOf(item) : undefined;
  }

  /** The early reports kept where the group's expected members live. */
  async earlyReports(group: Group): Promise<EarlyReport[]> {
    return (await this.members.memberItems(group, (m) => (m.early ? earlyOf(m) : undefined))).filter(
      (e): e is EarlyReport => e !== undefined,
    );
  }

  /**
   * Claims an early report for its adoption or its expiry: the first claim wins, the same claim
   * again is granted (a retried step). `from`: take it over from that claim (an expiry that finds
   * the group after all hands the report to adoption). Returns `claimed`, the other party's claim,
   * or `gone` when the report is no longer early (adopted or deleted).
   */
  async claimEarly(
    groupId: string,
    member: string,
    claim: EarlyClaim,
    by: string,
    nowMs: number,
    from?: EarlyClaim,
  ): Promise<'claimed' | EarlyClaim | 'gone'> {
    return this.claimEarlyAt(keys.member(groupId, member), claim, by, nowMs, from);
  }

  /**
   * Keeps a Cancel whose group does not exist yet (`CMD#cancel`), with its original record, for
   * `waitMs`: the first one wins (a redelivery or a second Cancel finds it kept: `duplicate`).
   * One per group id, so it needs no count.
   */
  async keepEarlyCancel(
    cancel: CancelRequest,
    raw: RawRecord,
    nowMs: number,
    waitMs: number,
  ): Promise<'kept' | 'duplicate' | 'too-large' | 'created'> {
    const item: CancelItem = {
      ...keys.cancel(cancel.group),
      kind: ITEM_KINDS.command,
      gid: cancel.group,
      message: cancel.message,
      atMs: nowMs,
      expiresAt: epochSeconds(nowMs + waitMs),
      early: true,
      ...rawFields(raw),
      dlShard: deadlineShard(`${cancel.group}/CMD#cancel`),
      dlAt: nowMs + waitMs,
    };
    if (itemBytes(item) > Math.min(this.earlyLimits.maxBytes, LAYOUT.maxItemBytes)) return 'too-large';
    // One Cancel per group id: counted in EARLY (so the Create looks for it) but never refused by its cap.
    const kept = await this.keepCounted(item, cancel.group, false);
    return kept === 'too-many' ? 'duplicate' : kept;
  }

  /** The Cancel kept for a group not yet created, if any. */
  async getEarlyCancel(groupId: string): Promise<EarlyCancel | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.cancel(groupId),
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    this.meter.add(out.ConsumedCapacity, 'read');
    const item = out.Item as CancelItem | undefined;
    return item?.early ? earlyCancelOf(item) : undefined;
  }

  /** `claimEarly` for the group's early Cancel. */
  async claimEarlyCancel(
    groupId: string,
    claim: EarlyClaim,
    by: string,
    nowMs: number,
    from?: EarlyClaim,
  ): Promise<'claimed' | EarlyClaim | 'gone'> {
    return this.claimEarlyAt(keys.cancel(groupId), claim, by, nowMs, from);
  }

  /**
   * Keeps an Extend whose group does not exist yet (`CMD#extend#<origin>`, several per group), with
   * its original record and first stored time, for `waitMs`; counted in the group's EARLY count in the
   * same transaction as `keepEarly` (a redelivery finds it kept: `duplicate`, not counted again).
   */
  async keepEarlyExtend(
    extend: ExtendRequest,
    origin: string,
    raw: RawRecord,
    nowMs: number,
    waitMs: number,
  ): Promise<'kept' | 'duplicate' | 'too-large' | 'too-many' | 'created'> {
    const key = keys.extend(extend.group, origin);
    const item: ExtendItem = {
      ...key,
      kind: ITEM_KINDS.command,
      gid: extend.group,
      ttlSeconds: extend.ttlSeconds,
      atMs: nowMs,
      expiresAt: epochSeconds(nowMs + waitMs),
      early: true,
      ...rawFields(raw),
      dlShard: deadlineShard(`${extend.group}/${key.sk}`),
      dlAt: nowMs + waitMs,
    };
    if (itemBytes(item) > Math.min(this.earlyLimits.maxBytes, LAYOUT.maxItemBytes)) return 'too-large';
    return this.keepCounted(item, extend.group, true);
  }

  /** An Extend kept for a group not yet created, by its origin, if still early. */
  async getEarlyExtend(groupId: string, origin: string): Promise<EarlyExtend | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.extend(groupId, origin),
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    this.meter.add(out.ConsumedCapacity, 'read');
    const item = out.Item as ExtendItem | undefined;
    return item?.early ? earlyExtendOf(item) : undefined;
  }

  /** The Extends kept for a group before its Create (still early), oldest record first by origin. */
  async earlyExtends(groupId: string): Promise<EarlyExtend[]> {
    const found: EarlyExtend[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': groupPartition(groupId), ':prefix': EXTEND_PREFIX },
          ConsistentRead: true,
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'read');
      for (const item of (out.Items ?? []) as ExtendItem[]) if (item.early) found.push(earlyExtendOf(item));
      start = out.LastEvaluatedKey;
    } while (start);
    return found;
  }

  /** `claimEarly` for an early Extend. */
  async claimEarlyExtend(
    groupId: string,
    origin: string,
    claim: EarlyClaim,
    by: string,
    nowMs: number,
    from?: EarlyClaim,
  ): Promise<'claimed' | EarlyClaim | 'gone'> {
    return this.claimEarlyAt(keys.extend(groupId, origin), claim, by, nowMs, from);
  }

  /** Deletes an early Extend once dead-lettered by the expiry that claimed it (see `discardEarlyCancel`). */
  async discardEarlyExtend(groupId: string, origin: string, applied = false): Promise<void> {
    await this.discardEarlyAt(keys.extend(groupId, origin), applied);
  }

  /**
   * Deletes the group's early Cancel: once dead-lettered by the expiry that claimed it, or with
   * `applied`, whatever its claim, once it has been acted on (the group is decided).
   */
  async discardEarlyCancel(groupId: string, applied = false): Promise<void> {
    await this.discardEarlyAt(keys.cancel(groupId), applied);
  }

  /**
   * Claims an early item for `claim` on behalf of `by` (the actor: the record being handled, or the
   * expiry of one). The claim names its holder and lasts `publishClaimMs`: the first claim wins, the
   * same holder is granted it again (a retried or redelivered step), and another actor of the same
   * kind only once it lapsed (its holder died), so two concurrent actors never share one and an
   * adoption never takes over an expiry's claim (nor the reverse).
   * `from`: the holder takes its own claim over from that kind (an expiry that finds the group after
   * all hands the item to adoption). Returns `claimed`, or the kind of the claim another holds, or `gone`.
   */
  private async claimEarlyAt(
    key: { pk: string; sk: string },
    claim: EarlyClaim,
    by: string,
    nowMs: number,
    from?: EarlyClaim,
  ): Promise<'claimed' | EarlyClaim | 'gone'> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET #claim = :c, #by = :by, #until = :until',
          ConditionExpression: from
            ? '#early = :t AND (#claim = :c OR #claim = :from) AND #by = :by'
            : '#early = :t AND (attribute_not_exists(#claim) OR ' +
              '(#claim = :c AND (#by = :by OR attribute_not_exists(#until) OR #until <= :now)))',
          ExpressionAttributeNames: {
            '#early': 'early',
            '#claim': 'claim',
            '#by': 'claimBy',
            '#until': 'claimUntil',
          },
          ExpressionAttributeValues: {
            ':t': true,
            ':c': claim,
            ':by': by,
            ':until': nowMs + this.publishClaimMs,
            ...(from ? {} : { ':now': nowMs }),
            ...(from ? { ':from': from } : {}),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'claimed';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const old = error.Item ? (unmarshall(error.Item) as MemberItem | CancelItem | ExtendItem) : undefined;
      return old?.early && old.claim ? old.claim : 'gone';
    }
  }

  /** An early report whose group has arrived: it now lives as long as the group's data. */
  async adoptEarly(group: Group, member: string): Promise<void> {
    await ifConditionHolds(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.member(group.definition.id, member),
          UpdateExpression:
            'SET expiresAt = :e REMOVE #early, #claim, claimBy, claimUntil, #raw, rawKey, rawHeaders, srcTopic, srcPartition, srcOffset, dlShard, dlAt',
          ConditionExpression: '#early = :t',
          ExpressionAttributeNames: { '#early': 'early', '#claim': 'claim', '#raw': 'raw' },
          ExpressionAttributeValues: { ':e': this.dataExpiresAt(group), ':t': true },
        }),
      ),
    );
  }

  /**
   * Deletes an early report (only while it is still early): once dead-lettered (by the expiry that
   * claimed it), or, with `late`, whatever its claim, because its group is already decided.
   */
  async discardEarly(groupId: string, member: string, late = false): Promise<void> {
    await this.discardEarlyAt(keys.member(groupId, member), late);
  }

  private async discardEarlyAt(key: { pk: string; sk: string }, late: boolean): Promise<void> {
    await ifConditionHolds(
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: key,
          ConditionExpression: late ? '#early = :t' : '#early = :t AND #claim = :expire',
          ExpressionAttributeNames: late ? { '#early': 'early' } : { '#early': 'early', '#claim': 'claim' },
          ExpressionAttributeValues: late ? { ':t': true } : { ':t': true, ':expire': 'expire' },
        }),
      ),
    );
  }
}
