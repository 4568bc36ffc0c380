import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DueEntry, GroupState } from '#core/model.ts';
import { ifConditionHolds, StorePart, stateOrNone } from './context.ts';
import type { StateItem } from './items.ts';
import {
  deadlineShards,
  EXTEND_ATTRIBUTE,
  entryOf,
  epochSeconds,
  ITEM_KINDS,
  keys,
  OPEN,
  TABLE,
} from './layout.ts';

export class Deadlines extends StorePart {
  /**
   * Stores an Extend of an open group and puts it in force, in one conditional write of STATE: its
   * origin with its first stored time (`ext:<origin>` = `atMs`), the deadline (`deadlineMs`, its TTL and
   * its place in the deadline index) moved from `fromMs` (the deadline it was judged against) to
   * `deadlineMs` (never earlier). Holds only while open, under that same deadline, before it at `atMs`,
   * and once per origin; otherwise returns the state that refused it (`extended` when it holds this
   * origin already: a redelivery, or the SDK's retry of a write whose reply was lost).
   */
  async extendDeadline(
    groupId: string,
    origin: string,
    atMs: number,
    fromMs: number,
    deadlineMs: number,
  ): Promise<{ extended: true } | { extended: false; current: GroupState | undefined }> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.state(groupId),
          UpdateExpression: 'SET deadlineMs = :new, expiresAt = :exp, dlAt = :new, #x = :at',
          ConditionExpression:
            '#st = :open AND deadlineMs = :from AND deadlineMs > :at AND attribute_not_exists(#x)',
          ExpressionAttributeNames: { '#st': 'status', '#x': `${EXTEND_ATTRIBUTE}${origin}` },
          ExpressionAttributeValues: {
            ':new': deadlineMs,
            ':exp': epochSeconds(deadlineMs),
            ':at': atMs,
            ':from': fromMs,
            ':open': OPEN,
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      return { extended: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = stateOrNone(error.Item ? (unmarshall(error.Item) as StateItem) : undefined);
      if (current?.extendedAt?.[origin] !== undefined) return { extended: true };
      return { extended: false, current };
    }
  }

  /**
   * Groups whose deadline passed and early reports whose wait ran out, from every shard of the
   * index, page after page (up to `maxPerShard` each): no number of due entries hides another.
   */
  async dueEntries(nowMs: number, maxPerShard = 2_000): Promise<DueEntry[]> {
    const { name, partitionKey, sortKey } = TABLE.deadlineIndex;
    const pages = await Promise.all(
      deadlineShards().map(async (shard) => {
        const keys: { pk: string; sk: string }[] = [];
        let start: Record<string, unknown> | undefined;
        do {
          const out = await this.doc.send(
            new QueryCommand({
              TableName: this.tableName,
              IndexName: name,
              KeyConditionExpression: '#p = :shard AND #s <= :now',
              ExpressionAttributeNames: { '#p': partitionKey, '#s': sortKey },
              ExpressionAttributeValues: { ':shard': shard, ':now': nowMs },
              Limit: Math.min(500, maxPerShard - keys.length),
              ExclusiveStartKey: start,
            }),
          );
          keys.push(...((out.Items ?? []) as { pk: string; sk: string }[]));
          start = out.LastEvaluatedKey;
        } while (start && keys.length < maxPerShard);
        return keys;
      }),
    );
    return pages.flat().flatMap((key) => {
      const entry = entryOf(key);
      return entry ? [entry] : [];
    });
  }

  /**
   * Moves a due entry that failed out of the sweep's way until `untilMs` (its place in the index
   * only: deadlines and expiries do not change). Returns how many times it has failed so far.
   */
  async deferDue(entry: DueEntry, untilMs: number): Promise<number> {
    const key =
      entry.kind === 'group'
        ? keys.state(entry.groupId)
        : entry.kind === 'early'
          ? keys.member(entry.groupId, entry.member)
          : entry.kind === 'early-extend'
            ? keys.extend(entry.groupId, entry.origin)
            : keys.cancel(entry.groupId);
    const out = await ifConditionHolds(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET dlAt = :until ADD sweepFailures :one',
          ConditionExpression: 'attribute_exists(dlShard)',
          ExpressionAttributeValues: { ':until': untilMs, ':one': 1 },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    return out ? Number(out.Attributes?.sweepFailures ?? 1) : 0;
  }

  /**
   * A lease that lets one sweeper at a time work (the others skip their sweep): taken when free
   * or expired, renewed by its holder. Returns whether `owner` holds it until `nowMs + leaseMs`.
   */
  async acquireSweeperLease(owner: string, nowMs: number, leaseMs: number): Promise<boolean> {
    const taken = await ifConditionHolds(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.sweeperLease(),
            kind: ITEM_KINDS.lease,
            owner,
            untilMs: nowMs + leaseMs,
            expiresAt: epochSeconds(nowMs + leaseMs) + 3600,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR untilMs < :now OR #o = :me',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':now': nowMs, ':me': owner },
        }),
      ),
    );
    return taken !== undefined;
  }

  /** Gives the lease up so that another sweeper can take over at once. */
  async releaseSweeperLease(owner: string): Promise<void> {
    await ifConditionHolds(
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.sweeperLease(),
          ConditionExpression: '#o = :me',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':me': owner },
        }),
      ),
    );
  }
}
