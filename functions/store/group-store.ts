/**
 * The collector's DynamoDB store. It owns the table's layout (layout.ts, items.ts) and offers
 * the operations the collector needs, in the collector's terms (#core/model.ts). Every write is
 * conditional or idempotent and safe to repeat (DESIGN.md "Writes and their conditions").
 * No rule lives here: the service decides, the store reads and writes.
 */
import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { InconsistentStateError, StaleDefinitionError } from '#core/errors.ts';
import type { CancelRequest, ExtendRequest, MemberReport } from '#core/events.ts';
import type {
  DueEntry,
  EarlyCancel,
  EarlyClaim,
  EarlyExtend,
  EarlyReport,
  Group,
  GroupState,
  GroupStatus,
  RawRecord,
  SingleItemGroup,
  StoredReport,
} from '#core/model.ts';
import { LIMITS } from '#shared/config.ts';
import { CapacityMeter } from './capacity.ts';
import {
  type CancelItem,
  counts,
  type DefinitionItem,
  definitionItem,
  type ExtendItem,
  earlyCancelOf,
  earlyExtendOf,
  earlyOf,
  groupOf,
  type MemberItem,
  openStateItem,
  rawFields,
  refEntryOf,
  reportOf,
  type SingleEntry,
  type StateItem,
  sameEntry,
  singleEntryOf,
  singleStateItem,
  stateOf,
} from './items.ts';
import {
  bucketsOf,
  chunk,
  deadlineShard,
  deadlineShards,
  EXTEND_ATTRIBUTE,
  EXTEND_PREFIX,
  entryOf,
  epochSeconds,
  groupPartition,
  ITEM_KINDS,
  isSingleItem,
  keys,
  LAYOUT,
  memberBuckets,
  memberPartition,
  OPEN,
  TABLE,
} from './layout.ts';
import { ReportPages } from './pages.ts';
import { putIfAbsent } from './writes.ts';

export interface StoreOptions {
  tableName: string;
  /** How long a decided group is remembered (late reports recognised), seconds. */
  retentionSeconds: number;
  /**
   * Groups of at most this many members live in one item (default LAYOUT.single.maxMembers; 0: none).
   * Every process sharing a table must use the same value: tests use it to explore both layouts.
   */
  singleItemMembers?: number;
  /** Bounds on reports kept before their group's Create (default: the contract's, LIMITS). */
  earlyReports?: { maxPerGroup: number; maxBytes: number };
  /** How long the decider (or a later claimer) alone may publish an outcome, ms (default PUBLISH_CLAIM_MS). */
  publishClaimMs?: number;
  /**
   * The longest a group may live from its creation, seconds (`COLLECTOR_MAX_TTL_SECONDS`): an Extend
   * can move the deadline up to it, so a group's data must outlive it (default: the deadline as created).
   */
  maxTtlSeconds?: number;
}

/**
 * The publish lease taken by a decision: long enough for a produce with its retries, short enough that
 * the sweeper publishes an outcome whose publisher died within seconds of the lease lapsing.
 */
export const PUBLISH_CLAIM_MS = 15_000;

/**
 * Groups up to this size have their reports read by key (BatchGetItem, 100 keys a call: one call for a
 * group of 3); larger ones by member bucket (a Query per bucket, paged).
 */
export const READ_BY_KEY_MEMBERS = 32;

/** Room left in a decided STATE for attributes added later (`published`, `doneShards`) when inlining its outcome. */
const INLINE_MARGIN_BYTES = 48;

/** Where a decision left the group: won by this call, or the state the winner left (undefined: TTL removed it). */
export type DecisionResult = { won: true } | { won: false; current: GroupState | undefined };

/** How a decision is conditioned: see `decide`. */
export type DecisionMode = 'before-deadline' | 'after-deadline' | 'recreate';

/** Where counting a report left its group. */

export class GroupStore {
  readonly doc: DynamoDBDocumentClient;
  readonly meter = new CapacityMeter();
  readonly tableName: string;
  private readonly retentionSeconds: number;
  private readonly maxTtlMs: number;
  private readonly singleItemMembers: number;
  readonly publishClaimMs: number;
  readonly earlyLimits: { maxPerGroup: number; maxBytes: number };
  private readonly groups = new Map<string, Group>();
  private readonly indexes = new WeakMap<Group, Map<string, number>>();

  constructor(client: DynamoDBClient, options: StoreOptions) {
    this.tableName = options.tableName;
    this.retentionSeconds = options.retentionSeconds;
    this.maxTtlMs = (options.maxTtlSeconds ?? 0) * 1000;
    this.singleItemMembers = options.singleItemMembers ?? LAYOUT.single.maxMembers;
    this.publishClaimMs = options.publishClaimMs ?? PUBLISH_CLAIM_MS;
    this.earlyLimits = options.earlyReports ?? {
      maxPerGroup: LIMITS.maxEarlyReportsPerGroup,
      maxBytes: LIMITS.maxEarlyReportBytes,
    };
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
    this.pages = new ReportPages(
      this.doc,
      this.tableName,
      this.meter,
      (group) => this.dataExpiresAt(group),
      (groupId) => this.getState(groupId),
    );
  }

  /** A larger group's reports: written once in pages, committed and counted by STATE (pages.ts). */
  readonly pages: ReportPages;

  /**
   * A larger group's reports from its committed pages, in commit order (the recording order), holding
   * at most `budgetBytes` of result text; `count`: the pages read (a decision holds only if no page
   * was committed since).
   */
  async pagedReports(
    group: Group,
    state: Pick<GroupState, 'pages' | 'voids'>,
    budgetBytes: number = Number.POSITIVE_INFINITY,
  ): Promise<{ reports: StoredReport[]; unloadedBytes: number; count: number; ordered: true }> {
    const read = await this.pages.read(group, state);
    return { ...bounded(read.reports, budgetBytes), count: read.pages, ordered: true };
  }

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

  /** Whether a report is small enough to keep inline (in a small group's STATE or a counter shard). */
  fitsInline(report: { result: string; error?: string }): boolean {
    return (
      Buffer.byteLength(report.result) + Buffer.byteLength(report.error ?? '') <= LAYOUT.single.maxInlineBytes
    );
  }

  /** Whether a group with this definition lives in one item (LAYOUT.single). */
  isSingle(definition: Group['definition']): boolean {
    return isSingleItem(definition, this.singleItemMembers);
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
  /**
   * When a group's definition, reports and counters may go: the retention after the latest deadline
   * the group can reach (an Extend moves it up to `maxTtlSeconds` from creation), plus a margin.
   */
  private dataExpiresAt(group: Group): number {
    const latestDeadlineMs = Math.max(group.deadlineMs, group.createdMs + this.maxTtlMs);
    return epochSeconds(latestDeadlineMs) + this.retentionSeconds + LAYOUT.definitionMarginSeconds;
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
      this.groups.set(group.definition.id, group);
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
    this.groups.delete(groupId);
  }

  private remember(group: Group): void {
    if (this.groups.size >= 10_000) this.groups.clear();
    this.groups.set(group.definition.id, group);
  }

  /** The group if this execution environment has seen it (no read). */
  cachedGroup(groupId: string): Group | undefined {
    return this.groups.get(groupId);
  }

  /**
   * The group as created: immutable once written, so cached per execution environment. A larger
   * group's DEF item; a small one's STATE (which keeps its definition).
   */
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
      const cached = this.groups.get(id);
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

  /** Items by key, strongly consistent, 100 keys per BatchGetItem, unprocessed keys asked again. */
  private async batchGet<T>(all: { pk: string; sk: string }[]): Promise<T[]> {
    const batches: { pk: string; sk: string }[][] = [];
    for (let i = 0; i < all.length; i += 100) batches.push(all.slice(i, i + 100));
    const pages = await Promise.all(
      batches.map(async (batch) => {
        const items: Record<string, unknown>[] = [];
        let pending: Record<string, unknown>[] = batch;
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 25 * 2 ** attempt)));
          const out = await this.doc.send(
            new BatchGetCommand({
              RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          this.meter.add(out.ConsumedCapacity, 'read');
          items.push(...(out.Responses?.[this.tableName] ?? []));
          pending = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        }
        return items;
      }),
    );
    return pages.flat() as T[];
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
  private stateOfItem(item: StateItem): GroupState {
    const state = stateOf(item);
    if (state.single && !this.groups.has(state.groupId)) this.remember(state.single.group);
    return state;
  }

  /** Many states by key (strongly consistent, BatchGetItem of 100 keys); ids without one are absent. */
  async getStates(groupIds: readonly string[]): Promise<Map<string, GroupState>> {
    const items = await this.batchGet<StateItem>([...new Set(groupIds)].map((id) => keys.state(id)));
    return new Map(
      items.filter((item) => item.status !== undefined).map((item) => [item.gid, this.stateOfItem(item)]),
    );
  }

  /**
   * Stores and counts a report of a small group (LAYOUT.single) in one conditional UpdateItem of its
   * STATE: the member's entry is set unless one is (the first report wins), only while the group is
   * open and `atMs` is before its deadline. Returns the state after the write (`new` when this report
   * is the stored one), or `closed` with the state that refused it (decided, past its deadline, or
   * absent). A report too large to keep inline is first stored in its member item (recordReport: an
   * early copy there is adopted, or, claimed by its expiry, makes this one `expiring`), as is any
   * report with `viaMemberItem` (one that may have an early copy).
   */
  async recordSingle(
    group: Group,
    report: MemberReport,
    atMs: number,
    by: string,
    nowMs: number,
    viaMemberItem = false,
  ): Promise<
    | { status: 'new' | 'duplicate'; state: GroupState & { single: SingleItemGroup }; lead: boolean }
    | { status: 'expiring' }
    | { status: 'closed'; state: GroupState | undefined }
  > {
    const gid = group.definition.id;
    const index = this.memberIndex(group).get(report.member);
    if (index === undefined) throw new RangeError(`member "${report.member}" is not expected by this group`);
    let stored: StoredReport = { member: report.member, result: report.result, error: report.error, atMs };
    let entry = singleEntryOf(stored, LAYOUT.single.maxInlineBytes);
    let memberStatus: 'new' | 'duplicate' | undefined;
    let adopt = false;
    // Straight into STATE only while no event was kept before the Create (else an early copy may be first).
    const guarded = !(entry.ref || viaMemberItem);
    if (!guarded) {
      const found = await this.putMember(memberItem(report, atMs, this.dataExpiresAt(group)));
      if (found?.early) {
        // Kept early: adopted (after the write below, so that a retry still finds it early) unless its
        // expiry claimed it (then it is being dead-lettered and must not count).
        const claim = await this.claimEarly(gid, report.member, 'adopt', by, nowMs);
        if (claim === 'expire') return { status: 'expiring' };
        adopt = claim === 'claimed';
      }
      memberStatus = found ? 'duplicate' : 'new';
      if (found) stored = reportOf(found);
      entry = refEntryOf(stored.atMs, stored.error !== undefined);
    }
    const written = await this.writeSingle(gid, index, entry, guarded, group.createdMs);
    if (!written.item) {
      const closed = written.closed;
      if (closed && closed.createdMs !== group.createdMs) {
        // The id belongs to a later group than the definition this environment cached.
        this.forget(gid);
        throw new StaleDefinitionError(gid);
      }
      if (guarded && closed?.status === OPEN && closed.hadEarly && atMs < closed.deadlineMs) {
        return this.recordSingle(group, report, atMs, by, nowMs, true);
      }
      return { status: 'closed', state: closed };
    }
    if (adopt) await this.adoptEarly(group, report.member);
    const item = written.item;
    const state = this.stateOfItem(item) as GroupState & { single: SingleItemGroup };
    const kept = item.r?.[String(index)];
    const mine = sameEntry(kept, entry);
    return { status: mine && memberStatus !== 'duplicate' ? 'new' : 'duplicate', state, lead: written.lead };
  }

  /**
   * Writes a small group's entry. Entries of one group with the same stored time that arrive while a
   * write to that group is in flight share the next write (several `SET r.#i = if_not_exists(…)` in one
   * UpdateItem): reports of one group in one batch cost one write. The first caller of a shared write
   * is its `lead` (it decides the group; the others only learn its state).
   */
  private writeSingle(
    gid: string,
    index: number,
    entry: SingleEntry,
    guarded: boolean,
    createdMs: number,
  ): Promise<{ item?: StateItem; closed?: GroupState; lead: boolean }> {
    const key = `${gid}\u0000${guarded ? 'guarded' : 'member-item'}\u0000${createdMs}`;
    return new Promise((resolve, reject) => {
      const queue = this.singleQueues.get(key) ?? { busy: false, waiting: [] };
      this.singleQueues.set(key, queue);
      queue.waiting.push({ index, entry, resolve, reject });
      // Started on the next turn of the event loop: the reports of a batch handled at once join it.
      if (!queue.busy) {
        queue.busy = true;
        setImmediate(() => void this.flushSingle(key, gid, guarded, createdMs));
      }
    });
  }

  private readonly singleQueues = new Map<
    string,
    {
      busy: boolean;
      waiting: {
        index: number;
        entry: SingleEntry;
        resolve: (r: { item?: StateItem; closed?: GroupState; lead: boolean }) => void;
        reject: (e: unknown) => void;
      }[];
    }
  >();

  private async flushSingle(key: string, gid: string, guarded: boolean, createdMs: number): Promise<void> {
    const queue = this.singleQueues.get(key);
    if (!queue) return;
    while (queue.waiting.length > 0) {
      const sharing = queue.waiting.splice(0);
      // Each entry keeps its own stored time; the write holds only if the latest is before the deadline.
      const atMs = Math.max(...sharing.map((w) => w.entry.at));
      // One entry per member and write (two paths may not overlap): the first queued one.
      const entries = new Map<number, SingleEntry>();
      for (const w of sharing) if (!entries.has(w.index)) entries.set(w.index, w.entry);
      const names = [...entries.keys()];
      try {
        const out = await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: keys.state(gid),
            UpdateExpression: `SET ${names.map((i) => `r.#m${i} = if_not_exists(r.#m${i}, :e${i})`).join(', ')}`,
            // `createdMs`: the group this definition (perhaps cached) belongs to, not a later one of the same id.
            ConditionExpression: `#st = :open AND deadlineMs > :at AND attribute_exists(r) AND createdMs = :created${
              guarded ? ' AND attribute_not_exists(hadEarly)' : ''
            }`,
            // Keyed by the member's position, never by its id: an id such as `__proto__` is no safe map key.
            ExpressionAttributeNames: {
              '#st': 'status',
              ...Object.fromEntries(names.map((i) => [`#m${i}`, String(i)])),
            },
            ExpressionAttributeValues: {
              ':open': OPEN,
              ':at': atMs,
              ':created': createdMs,
              ...Object.fromEntries([...entries].map(([i, e]) => [`:e${i}`, e])),
            },
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            ReturnConsumedCapacity: 'TOTAL',
          }),
        );
        this.meter.add(out.ConsumedCapacity, 'write');
        sharing.forEach((w, i) => {
          w.resolve({ item: out.Attributes as StateItem, lead: i === 0 });
        });
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) {
          const closed = stateOrNone(error.Item ? (unmarshall(error.Item) as StateItem) : undefined);
          // Open, and the deadline falls between their stored times: those stored before it are written again.
          const before = closed?.status === OPEN ? sharing.filter((w) => w.entry.at < closed.deadlineMs) : [];
          const retried = before.length < sharing.length ? before : [];
          queue.waiting.unshift(...retried);
          sharing
            .filter((w) => !retried.includes(w))
            .forEach((w, i) => {
              w.resolve({ closed, lead: i === 0 });
            });
        } else {
          for (const w of sharing) w.reject(error);
        }
      }
    }
    queue.busy = false;
    this.singleQueues.delete(key);
  }

  /**
   * A small group's reports: those kept in its state, and the referenced ones read from their member
   * items (BatchGetItem), holding at most `budgetBytes` of result text (as `boundedReports`).
   */
  async singleReports(
    single: SingleItemGroup,
    budgetBytes: number = Number.POSITIVE_INFINITY,
  ): Promise<{ reports: StoredReport[]; unloadedBytes: number; count: number }> {
    const read = (await this.singleReportsOf([single], budgetBytes)).get(single.group.definition.id);
    if (read instanceof Error) throw read;
    return read ?? { reports: [], unloadedBytes: 0, count: single.count };
  }

  /**
   * `singleReports` of many small groups at once (the sweeper's due groups): the member items they
   * need are read together, 100 keys per BatchGetItem.
   */
  async singleReportsOf(
    singles: readonly SingleItemGroup[],
    budgetBytes: number = Number.POSITIVE_INFINITY,
  ): Promise<
    Map<string, { reports: StoredReport[]; unloadedBytes: number; count: number } | InconsistentStateError>
  > {
    // Also read: members with no entry yet, whose report may be stored in its member item (kept early and
    // not adopted yet, or stored there before a crash): a stored report counts wherever it is.
    const wanted = singles.flatMap((single) => {
      const inState = new Set(single.reports.map((r) => r.member));
      const gid = single.group.definition.id;
      return single.group.definition.expected.filter((m) => !inState.has(m)).map((m) => keys.member(gid, m));
    });
    const items = wanted.length === 0 ? [] : await this.batchGet<MemberItem>(wanted);
    const byGroup = new Map<string, MemberItem[]>();
    for (const item of items) byGroup.set(item.gid, [...(byGroup.get(item.gid) ?? []), item]);
    type Read = { reports: StoredReport[]; unloadedBytes: number; count: number } | InconsistentStateError;
    return new Map<string, Read>(
      singles.map((single): [string, Read] => {
        const gid = single.group.definition.id;
        const own = byGroup.get(gid) ?? [];
        if (single.referenced.some((ref) => !own.some((item) => item.member === ref.member))) {
          // That group alone: the others of the batch are decided.
          return [
            gid,
            new InconsistentStateError(`group ${gid} references a member report that is not stored`),
          ];
        }
        const { reports, unloadedBytes } = bounded(
          [...single.reports, ...own.filter(counts).map(reportOf)].sort((a, b) => a.atMs - b.atMs),
          budgetBytes,
        );
        return [gid, { reports, unloadedBytes, count: single.count }];
      }),
    );
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

  /** A member's stored report, early or not (for inspection and tests). */
  async readReport(
    groupId: string,
    member: string,
  ): Promise<(StoredReport & { early: boolean }) | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.member(groupId, member), ConsistentRead: true }),
    );
    const item = out.Item as MemberItem | undefined;
    if (item) return { ...reportOf(item), early: item.early === true };
    // A small group keeps a member's report in its STATE.
    const kept = (await this.getState(groupId))?.single?.reports.find((r) => r.member === member);
    return kept ? { ...kept, early: false } : undefined;
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

  /**
   * The stored reports, holding at most `budgetBytes` of result text in memory: past the budget a
   * result stands as `null` and its bytes (less the 4 of `null`) are added to `unloadedBytes`. A
   * decision over a huge group thus needs memory for one page and the budget, not for every result.
   */
  async boundedReports(
    group: Group,
    budgetBytes: number,
    removed?: GroupState,
  ): Promise<{ reports: StoredReport[]; unloadedBytes: number; count?: number; ordered?: true }> {
    if (this.isSingle(group.definition)) {
      const single = (removed ?? (await this.getState(group.definition.id)))?.single;
      if (!single) return { reports: [], unloadedBytes: 0, count: 0 };
      return this.singleReports(single, budgetBytes);
    }
    const state = removed ?? (await this.getState(group.definition.id));
    return this.pagedReports(group, state ?? { pages: 0 }, budgetBytes);
  }

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
    const inline = stateBytes + 'outcome'.length + args.outcome.length + INLINE_MARGIN_BYTES <= inlineLimit;
    const chunks = inline ? [] : chunk(args.outcome);
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
    const decided = { ...base, outcomeChunks: chunks.length, ...(inline ? { outcome: args.outcome } : {}) };
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
                    ...(args.removed.voids?.length ? { voids: new Set(args.removed.voids) } : {}),
                  }
                : {}),
              ...decided,
              dlAt: claimUntil,
            },
            // A stub (events kept after TTL removed the group) is replaced; a group's state is not.
            ConditionExpression: 'attribute_not_exists(#st)',
            ExpressionAttributeNames: { '#st': 'status' },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            ReturnConsumedCapacity: 'TOTAL',
          })
        : new UpdateCommand({
            TableName: this.tableName,
            Key: keys.state(gid),
            UpdateExpression: `SET #st = :status, resolvedMs = :now, outcomeChunks = :chunks, outcomeKey = :key, outcomeTopic = :topic, expiresAt = :exp, publishClaimBy = :by, publishClaimUntil = :until${inline ? ', outcome = :bytes' : ''}`,
            // The outcome was built for one deadline (an Extend moves it): decided only under it.
            ConditionExpression: `${
              args.mode === 'before-deadline'
                ? '#st = :open AND deadlineMs > :now'
                : '#st = :open AND deadlineMs <= :now'
            }${args.deadlineMs === undefined ? '' : ' AND deadlineMs = :dl'}${
              args.reportCount === undefined ? '' : single ? ' AND size(r) = :n' : ' AND pages = :n'
            }`,
            ExpressionAttributeNames: { '#st': 'status' },
            ExpressionAttributeValues: {
              ':status': args.status,
              ':now': nowMs,
              ':chunks': chunks.length,
              ':key': decision,
              ':topic': group.outcomeTopic,
              ':exp': expiresAt,
              ':open': OPEN,
              ':by': owner,
              ':until': claimUntil,
              ...(inline ? { ':bytes': args.outcome } : {}),
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

  /** Records that the outcome was published; the group then leaves the deadline index. */
  /** Marks the outcome published (the broker acknowledged it) at `atMs`: kept for inspection. */
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

  /** Stores a member item if none is stored; returns the stored one when it exists (first report wins). */
  private putMember(item: MemberItem): Promise<MemberItem | undefined> {
    return putIfAbsent(this.doc, this.tableName, this.meter, item);
  }

  /**
   * Every member report stored under a group id, in all buckets (for inspection: a group not
   * created yet has no expected members to narrow the buckets). Results are not read.
   */
  async storedReportsOf(
    groupId: string,
  ): Promise<{ member: string; early: boolean; atMs: number; error: string | undefined }[]> {
    const [items, state] = await Promise.all([
      this.queryMembers(
        groupId,
        memberBuckets(),
        (item) => ({ member: item.member, early: item.early === true, atMs: item.atMs, error: item.error }),
        { expression: '#member, early, atMs, #error', names: { '#member': 'member', '#error': 'error' } },
      ),
      this.getState(groupId),
    ]);
    const single = state?.single;
    if (!single) {
      // A larger group's reports are in its committed pages; member items hold only early copies.
      const group = await this.getGroup(groupId);
      if (!group || !state) return items.filter((r) => r.early);
      const paged = await this.pages.read(group, state);
      return [
        ...items.filter((r) => r.early),
        ...paged.reports.map((r) => ({ member: r.member, early: false, atMs: r.atMs, error: r.error })),
      ];
    }
    // A small group's counted reports are the entries of its STATE (a member item only holds a large one).
    const counted = new Set([...single.reports, ...single.referenced].map((r) => r.member));
    return [
      ...items.filter((r) => r.early && !counted.has(r.member)),
      ...single.reports.map((r) => ({ member: r.member, early: false, atMs: r.atMs, error: r.error })),
      ...items.filter(
        (r) => !r.early && counted.has(r.member) && single.referenced.some((x) => x.member === r.member),
      ),
    ];
  }

  /** Member items in the buckets the group's expected members hash to (a group of 3 reads at most 3 partitions). */
  private async memberItems<T>(group: Group, map: (item: MemberItem) => T): Promise<T[]> {
    return this.queryMembers(group.definition.id, bucketsOf(group.definition.expected), map);
  }

  /** Member items of a group id in the given buckets, mapped page by page; `projection`: only these attributes. */
  private async queryMembers<T>(
    groupId: string,
    buckets: readonly number[],
    map: (item: MemberItem) => T,
    projection?: { expression: string; names: Record<string, string> },
  ): Promise<T[]> {
    const pages = await Promise.all(
      buckets.map(async (bucket) => {
        const items: T[] = [];
        let start: Record<string, unknown> | undefined;
        do {
          const out = await this.doc.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': memberPartition(groupId, bucket) },
              ...(projection
                ? { ProjectionExpression: projection.expression, ExpressionAttributeNames: projection.names }
                : {}),
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

export interface DecisionArgs {
  group: Group;
  status: Exclude<GroupStatus, 'open'>;
  mode: DecisionMode;
  nowMs: number;
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

/** Reports holding at most `budgetBytes` of result text: past it a result stands as `null` (its bytes counted). */
function bounded(
  all: StoredReport[],
  budgetBytes: number,
): { reports: StoredReport[]; unloadedBytes: number } {
  let loaded = 0;
  let unloadedBytes = 0;
  const reports = all.map((report) => {
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

/** A STATE item as a group's state; a stub (events kept before any Create: no status) is no group. */
function stateOrNone(item: StateItem | undefined): GroupState | undefined {
  return item && item.status !== undefined ? stateOf(item) : undefined;
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
