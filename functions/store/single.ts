import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { InconsistentStateError, StaleDefinitionError } from '#core/errors.ts';
import type { MemberReport } from '#core/events.ts';
import type { Group, GroupState, SingleItemGroup, StoredReport } from '#core/model.ts';
import { bounded, type StoreContext, StorePart, stateOrNone } from './context.ts';
import type { EarlyEvents } from './early.ts';
import type { Groups } from './groups.ts';
import {
  counts,
  type MemberItem,
  refEntryOf,
  reportOf,
  type SingleEntry,
  type StateItem,
  sameEntry,
  singleEntryOf,
} from './items.ts';
import { keys, LAYOUT, OPEN } from './layout.ts';
import { type MemberItems, memberItem } from './members.ts';

export class SingleReports extends StorePart {
  constructor(
    context: StoreContext,
    private readonly groups: Groups,
    private readonly members: MemberItems,
    private readonly early: EarlyEvents,
  ) {
    super(context);
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
    const index = this.groups.memberIndex(group).get(report.member);
    if (index === undefined) throw new RangeError(`member "${report.member}" is not expected by this group`);
    let stored: StoredReport = { member: report.member, result: report.result, error: report.error, atMs };
    let entry = singleEntryOf(stored, LAYOUT.single.maxInlineBytes);
    let memberStatus: 'new' | 'duplicate' | undefined;
    let adopt = false;
    // Straight into STATE only while no event was kept before the Create (else an early copy may be first).
    const guarded = !(entry.ref || viaMemberItem);
    if (!guarded) {
      const found = await this.members.putMember(memberItem(report, atMs, this.dataExpiresAt(group)));
      if (found?.early) {
        // Kept early: adopted (after the write below, so that a retry still finds it early) unless its
        // expiry condemned it (then it is dead-lettered and must not count).
        const claim = await this.early.claimEarly(gid, report.member, by, nowMs);
        if (claim === 'dead') return { status: 'expiring' };
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
        this.groups.forget(gid);
        throw new StaleDefinitionError(gid);
      }
      if (guarded && closed?.status === OPEN && closed.hadEarly && atMs < closed.deadlineMs) {
        return this.recordSingle(group, report, atMs, by, nowMs, true);
      }
      return { status: 'closed', state: closed };
    }
    if (adopt) await this.early.adoptEarly(group, report.member);
    const item = written.item;
    const state = this.groups.stateOfItem(item) as GroupState & { single: SingleItemGroup };
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
}
