/**
 * The collector's DynamoDB store. Every write is conditional and safe to repeat
 * (DESIGN.md lists each item and condition). No rule lives here: the callers
 * decide, this module only reads and writes.
 */
import {
  ConditionalCheckFailedException,
  type ConsumedCapacity,
  type DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { GroupDefinition } from '#core/events.ts';
import type { OutcomeKind } from '#core/outcome.ts';
import { deadlineShard, keys, memberBuckets, memberPartition } from '#core/rules.ts';
import { GROUP_STATUS, type GroupStatus, ITEM_KINDS, TABLE } from '#shared/config.ts';

export interface DefinitionItem {
  pk: string;
  sk: string;
  kind: typeof ITEM_KINDS.definition;
  gid: string;
  expected: string[];
  ttlSeconds: number;
  payload?: string;
  replyTo?: string;
  /** Where the outcome goes: `replyTo`, or the outcome topic configured when the group was created. */
  outcomeTopic: string;
  defHash: string;
  createdMs: number;
  deadlineMs: number;
  shards: number;
  expiresAt: number;
}

export interface StateItem {
  pk: string;
  sk: string;
  kind: typeof ITEM_KINDS.state;
  gid: string;
  status: GroupStatus;
  createdMs: number;
  deadlineMs: number;
  ttlSeconds: number;
  shards: number;
  expiresAt: number;
  dlShard?: string;
  dlAt?: number;
  doneShards?: Set<number>;
  resolvedMs?: number;
  outcomeChunks?: number;
  outcomeTopic?: string;
  published?: boolean;
}

/** The original record of a report whose group was not known yet, kept for a dead letter. */
export interface RawRecord {
  key?: Uint8Array;
  value: Uint8Array;
  headers: string;
  source: string;
}

export interface MemberItem {
  pk: string;
  sk: string;
  kind: typeof ITEM_KINDS.member;
  gid: string;
  member: string;
  result: string;
  error?: string;
  hash: string;
  atMs: number;
  expiresAt: number;
  early?: boolean;
  raw?: Uint8Array;
  rawKey?: Uint8Array;
  rawHeaders?: string;
  source?: string;
  dlShard?: string;
  dlAt?: number;
}

export type PutMemberResult = { status: 'new' } | { status: 'exists'; old: MemberItem };

/** Running totals of consumed capacity (ReturnConsumedCapacity), for tests and benchmarks. */
export class CapacityMeter {
  write = 0;
  read = 0;
  /** Single-item calls report only `CapacityUnits`; `kind` says which side they count on. */
  add(consumed: ConsumedCapacity | ConsumedCapacity[] | undefined, kind: 'read' | 'write') {
    for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
      if (c.WriteCapacityUnits !== undefined || c.ReadCapacityUnits !== undefined) {
        this.write += c.WriteCapacityUnits ?? 0;
        this.read += c.ReadCapacityUnits ?? 0;
      } else if (kind === 'write') {
        this.write += c.CapacityUnits ?? 0;
      } else {
        this.read += c.CapacityUnits ?? 0;
      }
    }
  }
}

export class GroupStore {
  readonly doc: DynamoDBDocumentClient;
  readonly meter = new CapacityMeter();
  private readonly definitions = new Map<string, DefinitionItem>();

  constructor(
    client: DynamoDBClient,
    readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  /**
   * Creates DEF and STATE in one transaction, each only if absent.
   * Returns the stored definition when the group already existed (the caller compares hashes).
   */
  async createGroup(
    def: DefinitionItem,
    state: StateItem,
  ): Promise<{ created: true } | { created: false; existing: DefinitionItem }> {
    try {
      const out = await this.doc.send(
        new TransactWriteCommand({
          ReturnConsumedCapacity: 'TOTAL',
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: def,
                ConditionExpression: 'attribute_not_exists(pk)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: state,
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      this.definitions.set(def.gid, def);
      return { created: true };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const old = error.CancellationReasons?.[0]?.Item;
      const existing = old ? (unmarshall(old) as DefinitionItem) : await this.getDefinition(def.gid);
      if (!existing) throw error;
      return { created: false, existing };
    }
  }

  /** The group's definition: immutable once written, so cached per execution environment. */
  async getDefinition(groupId: string): Promise<DefinitionItem | undefined> {
    const cached = this.definitions.get(groupId);
    if (cached) return cached;
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.definition(groupId),
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    this.meter.add(out.ConsumedCapacity, 'read');
    const item = out.Item as DefinitionItem | undefined;
    if (item) {
      if (this.definitions.size >= 10_000) this.definitions.clear();
      this.definitions.set(groupId, item);
    }
    return item;
  }

  async getState(groupId: string): Promise<StateItem | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.state(groupId),
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    this.meter.add(out.ConsumedCapacity, 'read');
    return out.Item as StateItem | undefined;
  }

  /** Stores a member's report if none is stored yet; otherwise returns the stored one (first report wins). */
  async putMember(item: MemberItem): Promise<PutMemberResult> {
    try {
      const out = await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      return { status: 'new' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException) || !error.Item) throw error;
      return { status: 'exists', old: unmarshall(error.Item) as MemberItem };
    }
  }

  async getMember(groupId: string, member: string): Promise<MemberItem | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.member(groupId, member), ConsistentRead: true }),
    );
    return out.Item as MemberItem | undefined;
  }

  /** An early report whose group has arrived: it now lives as long as the group's data. */
  async promoteEarly(groupId: string, member: string, expiresAt: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.member(groupId, member),
          UpdateExpression:
            'SET expiresAt = :e REMOVE #early, #raw, #rawKey, #rawHeaders, #src, dlShard, dlAt',
          ConditionExpression: '#early = :t',
          ExpressionAttributeNames: {
            '#early': 'early',
            '#raw': 'raw',
            '#rawKey': 'rawKey',
            '#rawHeaders': 'rawHeaders',
            '#src': 'source',
          },
          ExpressionAttributeValues: { ':e': expiresAt, ':t': true },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** Deletes an early report once it has been dead-lettered (only if it is still early). */
  async deleteEarly(groupId: string, member: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.member(groupId, member),
          ConditionExpression: '#early = :t',
          ExpressionAttributeNames: { '#early': 'early' },
          ExpressionAttributeValues: { ':t': true },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /**
   * Adds a member's index to its counter shard. Set union is idempotent: a
   * repeated or retried call never counts twice. Returns the shard's size.
   */
  async countMember(groupId: string, shard: number, index: number, expiresAt: number): Promise<number> {
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.counter(groupId, shard),
        UpdateExpression: 'ADD seen :i SET kind = :k, expiresAt = if_not_exists(expiresAt, :e)',
        ExpressionAttributeValues: { ':i': new Set([index]), ':k': ITEM_KINDS.counter, ':e': expiresAt },
        ReturnValues: 'UPDATED_NEW',
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    this.meter.add(out.ConsumedCapacity, 'write');
    return (out.Attributes?.seen as Set<number> | undefined)?.size ?? 0;
  }

  /** Marks a full counter shard on the open group's STATE; returns how many shards are full, or undefined if not open. */
  async markShardFull(groupId: string, shard: number): Promise<number | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.state(groupId),
          UpdateExpression: 'ADD doneShards :s',
          ConditionExpression: '#st = :open',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: { ':s': new Set([shard]), ':open': GROUP_STATUS.open },
          ReturnValues: 'UPDATED_NEW',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      return (out.Attributes?.doneShards as Set<number> | undefined)?.size ?? 0;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /** Member reports stored for a group, from the given buckets (all by default; strongly consistent). */
  async listMembers(groupId: string, buckets: readonly number[] = memberBuckets()): Promise<MemberItem[]> {
    const pages = await Promise.all(
      buckets.map(async (bucket) => {
        const items: MemberItem[] = [];
        let start: Record<string, unknown> | undefined;
        do {
          const out = await this.doc.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': memberPartition(groupId, bucket) },
              ConsistentRead: true,
              ExclusiveStartKey: start,
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          this.meter.add(out.ConsumedCapacity, 'read');
          items.push(...((out.Items ?? []) as MemberItem[]));
          start = out.LastEvaluatedKey;
        } while (start);
        return items;
      }),
    );
    return pages.flat();
  }

  /**
   * The one conditional write that decides a group's outcome: STATE moves from
   * open to its final status and the outcome bytes are stored, atomically.
   * - `before-deadline` (success, member failure): only while open and before the deadline.
   * - `after-deadline` (timeout): only while open and at or after the deadline.
   * - `recreate` (timeout after TTL removed STATE): only if STATE is absent.
   * Returns false when another decision won (the caller reads the winner's).
   */
  async decide(args: {
    state: StateItem;
    kind: OutcomeKind;
    mode: 'before-deadline' | 'after-deadline' | 'recreate';
    nowMs: number;
    chunks: Uint8Array[];
    outcomeTopic: string;
    retentionSeconds: number;
    dataExpiresAt: number;
  }): Promise<boolean> {
    const { state, nowMs } = args;
    const status =
      args.kind === 'success'
        ? GROUP_STATUS.succeeded
        : args.kind === 'timeout'
          ? GROUP_STATUS.timedOut
          : GROUP_STATUS.failed;
    const expiresAt = Math.ceil(nowMs / 1000) + args.retentionSeconds;
    const outcomeItems = args.chunks.map((data, n) => ({
      Put: {
        TableName: this.tableName,
        Item: {
          ...keys.outcome(state.gid, n),
          kind: ITEM_KINDS.outcome,
          data,
          expiresAt: args.dataExpiresAt,
        },
      },
    }));
    const decided = {
      status,
      resolvedMs: nowMs,
      outcomeChunks: args.chunks.length,
      outcomeTopic: args.outcomeTopic,
      expiresAt,
    };
    const stateWrite =
      args.mode === 'recreate'
        ? {
            Put: {
              TableName: this.tableName,
              Item: { ...state, ...decided, dlShard: state.dlShard ?? deadlineShard(state.gid), dlAt: nowMs },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          }
        : {
            Update: {
              TableName: this.tableName,
              Key: keys.state(state.gid),
              UpdateExpression:
                'SET #st = :status, resolvedMs = :now, outcomeChunks = :chunks, outcomeTopic = :topic, expiresAt = :exp',
              ConditionExpression:
                args.mode === 'before-deadline'
                  ? '#st = :open AND deadlineMs > :now'
                  : '#st = :open AND deadlineMs <= :now',
              ExpressionAttributeNames: { '#st': 'status' },
              ExpressionAttributeValues: {
                ':status': status,
                ':now': nowMs,
                ':chunks': args.chunks.length,
                ':topic': args.outcomeTopic,
                ':exp': expiresAt,
                ':open': GROUP_STATUS.open,
              },
            },
          };
    try {
      const out = await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [stateWrite, ...outcomeItems],
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      return true;
    } catch (error) {
      if (
        error instanceof TransactionCanceledException &&
        error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed'
      ) {
        return false;
      }
      throw error;
    }
  }

  /** The stored outcome bytes of a decided group. */
  async loadOutcome(groupId: string, chunks: number): Promise<Buffer> {
    const parts = await Promise.all(
      Array.from({ length: chunks }, async (_, n) => {
        const out = await this.doc.send(
          new GetCommand({ TableName: this.tableName, Key: keys.outcome(groupId, n), ConsistentRead: true }),
        );
        const data = out.Item?.data as Uint8Array | undefined;
        if (!data) throw new Error(`outcome chunk ${n} of group ${groupId} is missing`);
        return Buffer.from(data);
      }),
    );
    return Buffer.concat(parts);
  }

  async markPublished(groupId: string): Promise<void> {
    const out = await this.doc
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.state(groupId),
          // Leaving the deadline index only now: until its outcome is published, a decided group stays
          // where the sweeper looks, so an outcome whose publish failed is published again.
          UpdateExpression: 'SET published = :t REMOVE dlShard, dlAt',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':t': true },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      )
      .catch((error: unknown) => {
        if (error instanceof ConditionalCheckFailedException) return undefined;
        throw error;
      });
    this.meter.add(out?.ConsumedCapacity, 'write');
  }

  /** Keys of open groups and early reports whose deadline has passed, from one shard of the sparse index. */
  async dueDeadlines(shard: string, nowMs: number, limit = 500): Promise<{ pk: string; sk: string }[]> {
    const { name, partitionKey, sortKey } = TABLE.deadlineIndex;
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: name,
        KeyConditionExpression: '#p = :shard AND #s <= :now',
        ExpressionAttributeNames: { '#p': partitionKey, '#s': sortKey },
        ExpressionAttributeValues: { ':shard': shard, ':now': nowMs },
        Limit: limit,
      }),
    );
    return (out.Items ?? []) as { pk: string; sk: string }[];
  }
}

/** The items a new group starts with. */
export function newGroupItems(
  definition: GroupDefinition,
  defHash: string,
  times: { createdMs: number; deadlineMs: number; stateExpiresAt: number; dataExpiresAt: number },
  shards: number,
  outcomeTopic: string,
): { def: DefinitionItem; state: StateItem } {
  const gid = definition.id;
  return {
    def: {
      ...keys.definition(gid),
      kind: ITEM_KINDS.definition,
      gid,
      expected: definition.expected,
      ttlSeconds: definition.ttlSeconds,
      payload: definition.payload,
      replyTo: definition.replyTo,
      outcomeTopic: definition.replyTo ?? outcomeTopic,
      defHash,
      createdMs: times.createdMs,
      deadlineMs: times.deadlineMs,
      shards,
      expiresAt: times.dataExpiresAt,
    },
    state: {
      ...keys.state(gid),
      kind: ITEM_KINDS.state,
      gid,
      status: GROUP_STATUS.open,
      createdMs: times.createdMs,
      deadlineMs: times.deadlineMs,
      ttlSeconds: definition.ttlSeconds,
      shards,
      expiresAt: times.stateExpiresAt,
      dlShard: deadlineShard(gid),
      dlAt: times.deadlineMs,
    },
  };
}

export const definitionOf = (item: DefinitionItem): GroupDefinition => ({
  id: item.gid,
  expected: item.expected,
  ttlSeconds: item.ttlSeconds,
  payload: item.payload,
  replyTo: item.replyTo,
});
