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
   * Claims an early report for adoption (`claimEarlyAt`). Returns `claimed`, `adopt` (another live
   * holder), `dead` (its expiry condemned it), or `gone` when it is no longer early.
   */
  async claimEarly(
    groupId: string,
    member: string,
    by: string,
    nowMs: number,
  ): Promise<'claimed' | EarlyClaim | 'gone'> {
    return this.claimEarlyAt(keys.member(groupId, member), by, nowMs);
  }

  /** Condemns an early report whose wait ran out (`condemnEarlyAt`). */
  async condemnEarly(
    groupId: string,
    member: string,
    by: string,
  ): Promise<'dead' | 'created' | 'adopt' | 'gone'> {
    return this.condemnEarlyAt(groupId, keys.member(groupId, member), by);
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
    by: string,
    nowMs: number,
  ): Promise<'claimed' | EarlyClaim | 'gone'> {
    return this.claimEarlyAt(keys.cancel(groupId), by, nowMs);
  }

  /** `condemnEarly` for the group's early Cancel. */
  async condemnEarlyCancel(groupId: string, by: string): Promise<'dead' | 'created' | 'adopt' | 'gone'> {
    return this.condemnEarlyAt(groupId, keys.cancel(groupId), by);
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
    by: string,
    nowMs: number,
  ): Promise<'claimed' | EarlyClaim | 'gone'> {
    return this.claimEarlyAt(keys.extend(groupId, origin), by, nowMs);
  }

  /** `condemnEarly` for an early Extend. */
  async condemnEarlyExtend(
    groupId: string,
    origin: string,
    by: string,
  ): Promise<'dead' | 'created' | 'adopt' | 'gone'> {
    return this.condemnEarlyAt(groupId, keys.extend(groupId, origin), by);
  }

  /** Deletes an early Extend once dead-lettered by the expiry that condemned it (see `discardEarlyCancel`). */
  async discardEarlyExtend(groupId: string, origin: string, applied = false): Promise<void> {
    await this.discardEarlyAt(keys.extend(groupId, origin), applied);
  }

  /**
   * Deletes the group's early Cancel: once dead-lettered by the expiry that condemned it, or with
   * `applied`, whatever its claim, once it has been acted on (the group is decided).
   */
  async discardEarlyCancel(groupId: string, applied = false): Promise<void> {
    await this.discardEarlyAt(keys.cancel(groupId), applied);
  }

  /**
   * Claims an early event for adoption: granted when unclaimed, when this holder claimed it before (a
   * retried step, a redelivery), or when another holder's claim lapsed (it died). Never once condemned.
   */
  private async claimEarlyAt(
    key: { pk: string; sk: string },
    by: string,
    nowMs: number,
  ): Promise<'claimed' | EarlyClaim | 'gone'> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET #claim = :adopt, #by = :by, #until = :until',
          ConditionExpression:
            '#early = :t AND (attribute_not_exists(#claim) OR ' +
            '(#claim = :adopt AND (#by = :by OR attribute_not_exists(#until) OR #until <= :now)))',
          ExpressionAttributeNames: {
            '#early': 'early',
            '#claim': 'claim',
            '#by': 'claimBy',
            '#until': 'claimUntil',
          },
          ExpressionAttributeValues: {
            ':t': true,
            ':adopt': 'adopt',
            ':by': by,
            ':until': nowMs + this.publishClaimMs,
            ':now': nowMs,
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

  /**
   * Condemns an early event whose wait ran out, in one transaction with a check that its group does
   * not exist (no status on the STATE key): a Create is ordered before it (`created`: the caller
   * adopts it instead) or after it (the Create's adoption finds it `dead` and leaves it). Unclaimed or
   * already condemned (a retried expiry) only; `adopt`: an adopter holds it, `gone`: no longer early.
   */
  private async condemnEarlyAt(
    groupId: string,
    key: { pk: string; sk: string },
    by: string,
  ): Promise<'dead' | 'created' | 'adopt' | 'gone'> {
    try {
      const out = await this.doc.send(
        new TransactWriteCommand({
          ReturnConsumedCapacity: 'TOTAL',
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: key,
                UpdateExpression: 'SET #claim = :dead, #by = :by REMOVE #until',
                ConditionExpression: '#early = :t AND (attribute_not_exists(#claim) OR #claim = :dead)',
                ExpressionAttributeNames: {
                  '#early': 'early',
                  '#claim': 'claim',
                  '#by': 'claimBy',
                  '#until': 'claimUntil',
                },
                ExpressionAttributeValues: { ':t': true, ':dead': 'dead', ':by': by },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            {
              ConditionCheck: {
                TableName: this.tableName,
                Key: keys.state(groupId),
                ConditionExpression: 'attribute_not_exists(#st)',
                ExpressionAttributeNames: { '#st': 'status' },
              },
            },
          ],
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      return 'dead';
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [itemReason, stateReason] = error.CancellationReasons ?? [];
      if (itemReason?.Code === 'ConditionalCheckFailed') {
        const old = itemReason.Item ? (unmarshall(itemReason.Item) as MemberItem) : undefined;
        return old?.early && old.claim === 'adopt' ? 'adopt' : 'gone';
      }
      if (stateReason?.Code === 'ConditionalCheckFailed') return 'created';
      throw error;
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
   * condemned it), or, with `late`, whatever its claim, because its group is already decided.
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
          ConditionExpression: late ? '#early = :t' : '#early = :t AND #claim = :dead',
          ExpressionAttributeNames: late ? { '#early': 'early' } : { '#early': 'early', '#claim': 'claim' },
          ExpressionAttributeValues: late ? { ':t': true } : { ':t': true, ':dead': 'dead' },
        }),
      ),
    );
  }
}
