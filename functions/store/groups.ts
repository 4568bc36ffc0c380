import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Group, GroupState } from '#core/model.ts';
import { ifConditionHolds, StorePart, stateOrNone } from './context.ts';
import {
  type DefinitionItem,
  definitionItem,
  groupOf,
  openStateItem,
  type StateItem,
  singleStateItem,
  stateOf,
} from './items.ts';
import { epochSeconds, keys } from './layout.ts';

export class Groups extends StorePart {
  private readonly cache = new Map<string, Group>();

  private readonly indexes = new WeakMap<Group, Map<string, number>>();

  /** Marks a larger group's early reports adopted (all committed): its reports may be committed now. */
  async markAdopted(groupId: string): Promise<void> {
    await ifConditionHolds(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.state(groupId),
          UpdateExpression: 'SET adopted = :t',
          ConditionExpression: 'attribute_exists(#st)',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: { ':t': true },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
  }

  /** Position of each expected member, cached per group (decides its counter shard). */
  memberIndex(group: Group): Map<string, number> {
    let index = this.indexes.get(group);
    if (!index) {
      index = new Map(group.definition.expected.map((m, i) => [m, i]));
      this.indexes.set(group, index);
    }
    return index;
  }

  /**
   * Creates the group (definition and open state) in one transaction, each only if absent.
   * Returns the stored group when it already existed (the caller compares hashes).
   */
  async createGroup(
    group: Group,
  ): Promise<
    | { created: true; hadEarly: boolean }
    | { created: false; existing: Group }
    | { created: false; existing: undefined }
  > {
    if (this.isSingle(group.definition)) return this.createSingle(group);
    const def = definitionItem(group, this.dataExpiresAt(group));
    const state = {
      ...openStateItem(group, epochSeconds(group.deadlineMs)),
      pages: 0,
      reported: 0,
      failedCount: 0,
    };
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
            { Update: { TableName: this.tableName, ...creationOf(state) } },
          ],
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      this.cache.set(group.definition.id, group);
      // Events kept before the Create marked this same STATE key (a stub) and none can be kept after
      // it (keepCounted). A transaction returns no values: one read tells.
      return { created: true, hadEarly: (await this.getState(group.definition.id))?.hadEarly === true };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [defReason, stateReason] = error.CancellationReasons ?? [];
      const old = defReason?.Item;
      const existing = old
        ? groupOf(unmarshall(old) as DefinitionItem)
        : await this.getGroup(group.definition.id);
      if (existing) return { created: false, existing };
      // A state without its definition: an earlier group of this id whose items TTL is still removing.
      if (stateReason?.Code === 'ConditionalCheckFailed') return { created: false, existing: undefined };
      throw error;
    }
  }

  /**
   * A small group (LAYOUT.single) is created as one item: its STATE with the definition and an empty
   * report map, in one conditional write (an UpdateItem, so that the mark of events kept before it on
   * the same key stays and comes back in its reply). An item already there is either this group (a
   * redelivery: the caller compares hashes), another group of this id, or a state TTL is still removing.
   */
  private async createSingle(
    group: Group,
  ): Promise<
    | { created: true; hadEarly: boolean }
    | { created: false; existing: Group }
    | { created: false; existing: undefined }
  > {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          ...creationOf(singleStateItem(group, epochSeconds(group.deadlineMs))),
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      this.remember(group);
      return { created: true, hadEarly: (out.Attributes as StateItem | undefined)?.hadEarly === true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const old = stateOrNone(error.Item ? (unmarshall(error.Item) as StateItem) : undefined);
      if (old?.single) return { created: false, existing: old.single.group };
      // A larger group of this id (its DEF), or a state without definition that TTL is removing.
      const existing = await this.getGroup(group.definition.id);
      return existing ? { created: false, existing } : { created: false, existing: undefined };
    }
  }

  /** Drops a cached definition that turned out to belong to an earlier group of the same id. */
  forget(groupId: string): void {
    this.cache.delete(groupId);
  }

  private remember(group: Group): void {
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(group.definition.id, group);
  }

  /** The group if this execution environment has seen it (no read). */
  cachedGroup(groupId: string): Group | undefined {
    return this.cache.get(groupId);
  }

  /**
   * The group as created: immutable once written, so cached per execution environment. A larger
   * group's DEF item; a small one's STATE (which keeps its definition).
   */
  async getGroup(groupId: string): Promise<Group | undefined> {
    const cached = this.cache.get(groupId);
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
    if (!out.Item) return (await this.getState(groupId))?.single?.group;
    const group = groupOf(out.Item as DefinitionItem);
    this.remember(group);
    return group;
  }

  /**
   * Many groups as created, in BatchGetItem calls of up to 100 keys (strongly consistent; cached like
   * `getGroup`). Groups never created are absent from the map.
   */
  async getGroups(groupIds: readonly string[]): Promise<Map<string, Group>> {
    const found = new Map<string, Group>();
    const missing: string[] = [];
    for (const id of new Set(groupIds)) {
      const cached = this.cache.get(id);
      if (cached) found.set(id, cached);
      else missing.push(id);
    }
    const items = await this.batchGet<DefinitionItem>(missing.map((id) => keys.definition(id)));
    for (const item of items) {
      const group = groupOf(item);
      this.remember(group);
      found.set(group.definition.id, group);
    }
    const small = missing.filter((id) => !found.has(id));
    for (const [id, state] of await this.getStates(small)) {
      if (state.single) found.set(id, state.single.group);
    }
    return found;
  }

  /**
   * The group's status as read by a strongly consistent read in flight for it, or a new one: reports
   * of one group handled at once (a batch of a large group) share one read instead of one each. A
   * shared read may have started a moment before the caller; every write after it is conditional,
   * so a decision taken meanwhile is found by the write, as it would be after a read of its own.
   */
  sharedState(groupId: string): Promise<GroupState | undefined> {
    const inFlight = this.stateReads.get(groupId);
    if (inFlight) return inFlight;
    const read = this.getState(groupId).finally(() => this.stateReads.delete(groupId));
    this.stateReads.set(groupId, read);
    return read;
  }

  private readonly stateReads = new Map<string, Promise<GroupState | undefined>>();

  /** The group's status (strongly consistent), or undefined when it was never created or TTL removed it. */
  async getState(groupId: string): Promise<GroupState | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.state(groupId),
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    this.meter.add(out.ConsumedCapacity, 'read');
    return out.Item && (out.Item as StateItem).status !== undefined
      ? this.stateOfItem(out.Item as StateItem)
      : undefined;
  }

  /** A state as read; a small group's definition read with it is cached like `getGroup`'s. */
  stateOfItem(item: StateItem): GroupState {
    const state = stateOf(item);
    if (state.single && !this.cache.has(state.groupId)) this.remember(state.single.group);
    return state;
  }

  /** Many states by key (strongly consistent, BatchGetItem of 100 keys); ids without one are absent. */
  async getStates(groupIds: readonly string[]): Promise<Map<string, GroupState>> {
    const items = await this.batchGet<StateItem>([...new Set(groupIds)].map((id) => keys.state(id)));
    return new Map(
      items.filter((item) => item.status !== undefined).map((item) => [item.gid, this.stateOfItem(item)]),
    );
  }
}

/**
 * A group's STATE written by its Create: every attribute SET, only where no group is (a stub of events
 * kept before the Create keeps its `hadEarly` and `earlyN`).
 */
function creationOf(item: StateItem) {
  const { pk, sk, ...fields } = item;
  const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
  return {
    Key: { pk, sk },
    UpdateExpression: `SET ${entries.map((_, i) => `#a${i} = :a${i}`).join(', ')}`,
    ConditionExpression: 'attribute_not_exists(#st)',
    ExpressionAttributeNames: {
      '#st': 'status',
      ...Object.fromEntries(entries.map(([k], i) => [`#a${i}`, k])),
    },
    ExpressionAttributeValues: Object.fromEntries(entries.map(([, v], i) => [`:a${i}`, v])),
  };
}
