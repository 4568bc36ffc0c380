/**
 * The collector's DynamoDB store. It owns the table's layout (layout.ts, items.ts) and offers
 * the operations the collector needs, in the collector's terms (#core/model.ts). Every write is
 * conditional or idempotent and safe to repeat (DESIGN.md "Writes and their conditions").
 * No rule lives here: the service decides, the store reads and writes.
 */
import {
  ConditionalCheckFailedException,
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
import type { MemberReport } from '#core/events.ts';
import type {
  DueEntry,
  EarlyClaim,
  EarlyReport,
  Group,
  GroupState,
  GroupStatus,
  RawRecord,
  StoredReport,
} from '#core/model.ts';
import { LIMITS } from '#shared/config.ts';
import { CapacityMeter } from './capacity.ts';
import {
  type DefinitionItem,
  definitionItem,
  earlyOf,
  groupOf,
  type MemberItem,
  openStateItem,
  reportOf,
  type StateItem,
  stateOf,
} from './items.ts';
import {
  bucketsOf,
  chunk,
  deadlineShard,
  deadlineShards,
  entryOf,
  epochSeconds,
  ITEM_KINDS,
  keys,
  LAYOUT,
  memberBuckets,
  memberPartition,
  OPEN,
  shardCapacity,
  shardCount,
  shardOf,
  TABLE,
} from './layout.ts';

export interface StoreOptions {
  tableName: string;
  /** How long a decided group is remembered (late reports recognised), seconds. */
  retentionSeconds: number;
  /** Bounds on reports kept before their group's Create (default: the contract's, LIMITS). */
  earlyReports?: { maxPerGroup: number; maxBytes: number };
}

/** How a decision is conditioned: see `decide`. */
export type DecisionMode = 'before-deadline' | 'after-deadline' | 'recreate';

/** Where counting a report left its group. */
export type CountResult = 'counting' | 'complete' | 'closed';

export class GroupStore {
  readonly doc: DynamoDBDocumentClient;
  readonly meter = new CapacityMeter();
  readonly tableName: string;
  private readonly retentionSeconds: number;
  readonly earlyLimits: { maxPerGroup: number; maxBytes: number };
  private readonly groups = new Map<string, Group>();
  private readonly indexes = new WeakMap<Group, Map<string, number>>();

  constructor(client: DynamoDBClient, options: StoreOptions) {
    this.tableName = options.tableName;
    this.retentionSeconds = options.retentionSeconds;
    this.earlyLimits = options.earlyReports ?? {
      maxPerGroup: LIMITS.maxEarlyReportsPerGroup,
      maxBytes: LIMITS.maxEarlyReportBytes,
    };
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
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

  /** Definition, counters and members outlive any decision on the group. */
  private dataExpiresAt(group: Group): number {
    return epochSeconds(group.deadlineMs) + this.retentionSeconds + LAYOUT.definitionMarginSeconds;
  }

  /**
   * Creates the group (definition and open state) in one transaction, each only if absent.
   * Returns the stored group when it already existed (the caller compares hashes).
   */
  async createGroup(
    group: Group,
  ): Promise<
    { created: true } | { created: false; existing: Group } | { created: false; existing: undefined }
  > {
    const def = definitionItem(group, this.dataExpiresAt(group));
    const state = openStateItem(group, epochSeconds(group.deadlineMs));
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
      this.groups.set(group.definition.id, group);
      return { created: true };
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

  /** The group as created: immutable once written, so cached per execution environment. */
  async getGroup(groupId: string): Promise<Group | undefined> {
    const cached = this.groups.get(groupId);
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
    if (!out.Item) return undefined;
    const group = groupOf(out.Item as DefinitionItem);
    if (this.groups.size >= 10_000) this.groups.clear();
    this.groups.set(groupId, group);
    return group;
  }

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
    return out.Item ? stateOf(out.Item as StateItem) : undefined;
  }

  /**
   * Stores a member's report of a created group unless one is stored (the first report wins).
   * A stored report that was still early is adopted by the group here.
   */
  async recordReport(
    group: Group,
    report: MemberReport,
    nowMs: number,
  ): Promise<{ status: 'new' | 'duplicate' | 'expiring'; stored: StoredReport }> {
    const item = memberItem(report, nowMs, this.dataExpiresAt(group));
    const put = await this.putMember(item);
    if (put === undefined) return { status: 'new', stored: reportOf(item) };
    if (put.early) {
      // This member's report was kept early; adopt it unless its expiry has claimed it (then it is a dead letter).
      const claim = await this.claimEarly(group.definition.id, report.member, 'adopt');
      if (claim === 'expire') return { status: 'expiring', stored: reportOf(put) };
      if (claim === 'claimed') await this.adoptEarly(group, report.member);
    }
    return { status: 'duplicate', stored: reportOf(put) };
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
  ): Promise<'kept' | 'duplicate' | 'too-large' | 'too-many'> {
    const item: MemberItem = {
      ...memberItem(report, nowMs, epochSeconds(nowMs + waitMs)),
      early: true,
      raw: raw.value ?? new Uint8Array(),
      rawKey: raw.key,
      rawHeaders: JSON.stringify(raw.headers.map((h) => [h.name, Buffer.from(h.value).toString('base64')])),
      srcTopic: raw.origin?.topic,
      srcPartition: raw.origin?.partition,
      srcOffset: raw.origin?.offset,
      dlShard: deadlineShard(`${report.group}/${report.member}`),
      dlAt: nowMs + waitMs,
    };
    // The raw record and its parsed report together are bounded (and always under an item's 400 KB).
    if (itemBytes(item) > Math.min(this.earlyLimits.maxBytes, LAYOUT.maxItemBytes)) return 'too-large';
    // Kept and counted in one transaction: a retry of an applied write (lost reply, redelivery)
    // finds the report stored and cancels, so it never counts twice.
    try {
      const out = await this.doc.send(
        new TransactWriteCommand({
          ReturnConsumedCapacity: 'TOTAL',
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: item,
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: keys.earlyCount(report.group),
                UpdateExpression: 'SET kind = :kind, expiresAt = :e ADD n :one',
                ConditionExpression: 'attribute_not_exists(n) OR n < :max',
                ExpressionAttributeValues: {
                  ':kind': ITEM_KINDS.earlyCount,
                  ':e': item.expiresAt,
                  ':one': 1,
                  ':max': this.earlyLimits.maxPerGroup,
                },
              },
            },
          ],
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      return 'kept';
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [memberReason, countReason] = error.CancellationReasons ?? [];
      if (memberReason?.Code === 'ConditionalCheckFailed') return 'duplicate';
      if (countReason?.Code === 'ConditionalCheckFailed') return 'too-many';
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

  /** A member's stored report, early or not (for inspection and tests). */
  async readReport(
    groupId: string,
    member: string,
  ): Promise<(StoredReport & { early: boolean }) | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.member(groupId, member), ConsistentRead: true }),
    );
    const item = out.Item as MemberItem | undefined;
    return item ? { ...reportOf(item), early: item.early === true } : undefined;
  }

  /** The early reports kept where the group's expected members live. */
  async earlyReports(group: Group): Promise<EarlyReport[]> {
    return (await this.memberItems(group, (m) => (m.early ? earlyOf(m) : undefined))).filter(
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
    from?: EarlyClaim,
  ): Promise<'claimed' | EarlyClaim | 'gone'> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.member(groupId, member),
          UpdateExpression: 'SET #claim = :c',
          ConditionExpression: from
            ? '#early = :t AND (#claim = :c OR #claim = :from)'
            : '#early = :t AND (attribute_not_exists(#claim) OR #claim = :c)',
          ExpressionAttributeNames: { '#early': 'early', '#claim': 'claim' },
          ExpressionAttributeValues: { ':t': true, ':c': claim, ...(from ? { ':from': from } : {}) },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'claimed';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const old = error.Item ? (unmarshall(error.Item) as MemberItem) : undefined;
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
            'SET expiresAt = :e REMOVE #early, #claim, #raw, rawKey, rawHeaders, srcTopic, srcPartition, srcOffset, dlShard, dlAt',
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
    await ifConditionHolds(
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.member(groupId, member),
          ConditionExpression: late ? '#early = :t' : '#early = :t AND #claim = :expire',
          ExpressionAttributeNames: late ? { '#early': 'early' } : { '#early': 'early', '#claim': 'claim' },
          ExpressionAttributeValues: late ? { ':t': true } : { ':t': true, ':expire': 'expire' },
        }),
      ),
    );
  }

  /**
   * Counts an expected member's stored report. Counting is a set union (a repeated or retried
   * call never counts twice): the member's index joins its counter shard; a full shard joins the
   * open state's set of full shards. `complete` once every member is counted; `closed` when the
   * group was decided meanwhile.
   */
  async countReport(group: Group, member: string): Promise<CountResult> {
    const index = this.memberIndex(group).get(member);
    if (index === undefined) throw new RangeError(`member "${member}" is not expected by this group`);
    const gid = group.definition.id;
    const members = group.definition.expected.length;
    const shard = shardOf(index);
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.counter(gid, shard),
        UpdateExpression: 'ADD seen :i SET kind = :k, expiresAt = if_not_exists(expiresAt, :e)',
        ExpressionAttributeValues: {
          ':i': new Set([index]),
          ':k': ITEM_KINDS.counter,
          ':e': this.dataExpiresAt(group),
        },
        ReturnValues: 'UPDATED_NEW',
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    this.meter.add(out.ConsumedCapacity, 'write');
    const size = (out.Attributes?.seen as Set<number> | undefined)?.size ?? 0;
    if (size < shardCapacity(shard, members)) return 'counting';
    const shards = shardCount(members);
    if (shards === 1) return 'complete';
    try {
      const marked = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.state(gid),
          UpdateExpression: 'ADD doneShards :s',
          ConditionExpression: '#st = :open',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: { ':s': new Set([shard]), ':open': OPEN },
          ReturnValues: 'UPDATED_NEW',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      this.meter.add(marked.ConsumedCapacity, 'write');
      const full = (marked.Attributes?.doneShards as Set<number> | undefined)?.size ?? 0;
      return full < shards ? 'counting' : 'complete';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'closed';
      throw error;
    }
  }

  /** Every report stored for the group's expected members (early ones included), strongly consistent. */
  async reports(group: Group): Promise<StoredReport[]> {
    return this.memberItems(group, reportOf);
  }

  /**
   * The stored reports, holding at most `budgetBytes` of result text in memory: past the budget a
   * result stands as `null` and its bytes (less the 4 of `null`) are added to `unloadedBytes`. A
   * decision over a huge group thus needs memory for one page and the budget, not for every result.
   */
  async boundedReports(
    group: Group,
    budgetBytes: number,
  ): Promise<{ reports: StoredReport[]; unloadedBytes: number }> {
    let loaded = 0;
    let unloadedBytes = 0;
    const reports = await this.memberItems(group, (item) => {
      const report = reportOf(item);
      const bytes = Buffer.byteLength(report.result);
      if (loaded + bytes <= budgetBytes) {
        loaded += bytes;
        return report;
      }
      unloadedBytes += bytes - 4;
      return { ...report, result: 'null' };
    });
    return { reports, unloadedBytes };
  }

  /**
   * The one conditional write that decides a group's outcome: its state moves from open to
   * `status` and the outcome bytes are stored, atomically.
   * - `before-deadline` (success, member failure): only while open and before the deadline.
   * - `after-deadline` (timeout): only while open and at or after the deadline.
   * - `recreate` (timeout after TTL removed the state): only if the state is absent.
   * Returns false when another decision won (the caller reads the winner's).
   */
  async decide(args: {
    group: Group;
    status: Exclude<GroupStatus, 'open'>;
    mode: DecisionMode;
    nowMs: number;
    outcome: Uint8Array;
  }): Promise<boolean> {
    const { group, nowMs } = args;
    const gid = group.definition.id;
    const chunks = chunk(args.outcome);
    const expiresAt = Math.ceil(nowMs / 1000) + this.retentionSeconds;
    const outcomeItems = chunks.map((data, n) => ({
      Put: {
        TableName: this.tableName,
        Item: {
          ...keys.outcome(gid, n),
          kind: ITEM_KINDS.outcome,
          data,
          expiresAt: this.dataExpiresAt(group),
        },
      },
    }));
    const decided = {
      status: args.status,
      resolvedMs: nowMs,
      outcomeChunks: chunks.length,
      outcomeTopic: group.outcomeTopic,
      expiresAt,
    };
    const stateWrite =
      args.mode === 'recreate'
        ? {
            Put: {
              TableName: this.tableName,
              // Back in the deadline index until published: the sweeper republishes an outcome whose publish failed.
              Item: { ...openStateItem(group, expiresAt), ...decided, dlAt: nowMs },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          }
        : {
            Update: {
              TableName: this.tableName,
              Key: keys.state(gid),
              UpdateExpression:
                'SET #st = :status, resolvedMs = :now, outcomeChunks = :chunks, outcomeTopic = :topic, expiresAt = :exp',
              ConditionExpression:
                args.mode === 'before-deadline'
                  ? '#st = :open AND deadlineMs > :now'
                  : '#st = :open AND deadlineMs <= :now',
              ExpressionAttributeNames: { '#st': 'status' },
              ExpressionAttributeValues: {
                ':status': args.status,
                ':now': nowMs,
                ':chunks': chunks.length,
                ':topic': group.outcomeTopic,
                ':exp': expiresAt,
                ':open': OPEN,
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
  async loadOutcome(state: GroupState): Promise<Buffer> {
    const parts = state.outcomeParts;
    if (state.status === 'open' || parts === undefined) {
      throw new RangeError(`group ${state.groupId} has no stored outcome`);
    }
    const chunks = await Promise.all(
      Array.from({ length: parts }, async (_, n) => {
        const out = await this.doc.send(
          new GetCommand({
            TableName: this.tableName,
            Key: keys.outcome(state.groupId, n),
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

  /** Records that the outcome was published; the group then leaves the deadline index. */
  async markPublished(groupId: string): Promise<void> {
    const out = await ifConditionHolds(
      this.doc.send(
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
      ),
    );
    this.meter.add(out?.ConsumedCapacity, 'write');
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
    const key = entry.kind === 'group' ? keys.state(entry.groupId) : keys.member(entry.groupId, entry.member);
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

  /** Stores a member item if none is stored; returns the stored one when it exists (first report wins). */
  private async putMember(item: MemberItem): Promise<MemberItem | undefined> {
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
      return undefined;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException) || !error.Item) throw error;
      return unmarshall(error.Item) as MemberItem;
    }
  }

  /**
   * Every member report stored under a group id, in all buckets (for inspection: a group not
   * created yet has no expected members to narrow the buckets). Results are not read.
   */
  async storedReportsOf(
    groupId: string,
  ): Promise<{ member: string; early: boolean; atMs: number; error: string | undefined }[]> {
    const pages = await Promise.all(
      memberBuckets().map(async (bucket) => {
        const found: { member: string; early: boolean; atMs: number; error: string | undefined }[] = [];
        let start: Record<string, unknown> | undefined;
        do {
          const out = await this.doc.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': memberPartition(groupId, bucket) },
              ProjectionExpression: '#member, early, atMs, #error',
              ExpressionAttributeNames: { '#member': 'member', '#error': 'error' },
              ConsistentRead: true,
              ExclusiveStartKey: start,
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          this.meter.add(out.ConsumedCapacity, 'read');
          for (const item of (out.Items ?? []) as Pick<MemberItem, 'member' | 'early' | 'atMs' | 'error'>[]) {
            found.push({
              member: item.member,
              early: item.early === true,
              atMs: item.atMs,
              error: item.error,
            });
          }
          start = out.LastEvaluatedKey;
        } while (start);
        return found;
      }),
    );
    return pages.flat();
  }

  /** Member items in the buckets the group's expected members hash to (a group of 3 reads at most 3 partitions). */
  private async memberItems<T>(group: Group, map: (item: MemberItem) => T): Promise<T[]> {
    const gid = group.definition.id;
    const pages = await Promise.all(
      bucketsOf(group.definition.expected).map(async (bucket) => {
        const items: T[] = [];
        let start: Record<string, unknown> | undefined;
        do {
          const out = await this.doc.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': memberPartition(gid, bucket) },
              ConsistentRead: true,
              ExclusiveStartKey: start,
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          this.meter.add(out.ConsumedCapacity, 'read');
          // Mapped page by page: the raw page (results, early records' bytes) is let go at once.
          for (const item of (out.Items ?? []) as MemberItem[]) items.push(map(item));
          start = out.LastEvaluatedKey;
        } while (start);
        return items;
      }),
    );
    return pages.flat();
  }
}

/** The reply of a conditional write, or undefined when its condition did not hold (any other fault throws). */
async function ifConditionHolds<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}

/** An item's size as DynamoDB counts it (attribute names plus values), rounded up for numbers. */
function itemBytes(item: object): number {
  let total = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    total += Buffer.byteLength(name);
    if (typeof value === 'string') total += Buffer.byteLength(value);
    else if (value instanceof Uint8Array) total += value.length;
    else if (typeof value === 'number') total += 21;
    else if (typeof value === 'boolean') total += 1;
    else total += Buffer.byteLength(JSON.stringify(value));
  }
  return total;
}

function memberItem(report: MemberReport, nowMs: number, expiresAt: number): MemberItem {
  return {
    ...keys.member(report.group, report.member),
    kind: ITEM_KINDS.member,
    gid: report.group,
    member: report.member,
    result: report.result,
    error: report.error,
    atMs: nowMs,
    expiresAt,
  };
}
