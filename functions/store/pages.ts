/**
 * Report pages: the one place where a larger group's reports live (a small group keeps them in its
 * STATE). The reports of a group handled at once are written as one new item (a page, billed by its
 * own size, never rewritten) and then committed by one conditional write of STATE, which judges them
 * (open, before the deadline in force, early events adopted) and counts them. Pages are numbered
 * densely from 0; STATE's `pages` says how many are committed, `voids` which of them hold nothing
 * (a page that could never be committed). A reader folds pages 0 … pages − 1 in that order: the
 * first entry of a member is its report (commit order is the recording order), later ones are
 * duplicates. DESIGN.md "Report pages" has the protocol and its invariants.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { InconsistentStateError } from '#core/errors.ts';
import type { Group, GroupState, StoredReport } from '#core/model.ts';
import type { CapacityMeter } from './capacity.ts';
import { type StateItem, stateOf } from './items.ts';
import { ITEM_KINDS, keys, OPEN, pageKey, pagePartitions } from './layout.ts';
import { putIfAbsent } from './writes.ts';

/** One report in a page: the member's position in `expected`, its stored time, result (JSON text) and error. */
export interface PageEntry {
  i: number;
  at: number;
  res: string;
  err?: string;
}

export interface PageItem {
  pk: string;
  sk: string;
  kind: typeof ITEM_KINDS.page;
  gid: string;
  /** The page's number: its place in commit order. */
  n: number;
  /** The latest stored time among its entries: the commit holds only before the deadline. */
  at: number;
  /** Who wrote it (one token per write): a retried write recognises its own page. */
  by: string;
  /** Written by the adoption of early reports: committed while the adoption is pending. */
  adoption?: boolean;
  /** Its first `tk` entries are STATE's tail, which its commit moves here (the tail had that many). */
  tk?: number;
  e: PageEntry[];
  expiresAt: number;
}

/** A page holds at most this many bytes of entries (DynamoDB items are at most 400 KB). */
const PAGE_BYTES = 300 * 1024;

/**
 * A report alone in its commit whose result and error hold at most this many bytes goes into
 * STATE's tail: one write instead of a page and a commit.
 */
export const TAIL_ENTRY_BYTES = 128;
/** The tail holds at most this many entries, so that STATE stays near one write unit (1 KB) with them. */
export const TAIL_MAX = 4;

/** A tail entry as STATE stores it: with the token of the write that appended it (a retry finds its own). */
type TailEntry = PageEntry & { by?: string };

const fitsTail = (e: PageEntry): boolean =>
  Buffer.byteLength(e.res) + Buffer.byteLength(e.err ?? '') <= TAIL_ENTRY_BYTES;

/** A report commits only once the events kept before its group's Create are adopted. */
const ADOPTED = '(attribute_not_exists(hadEarly) OR adopted = :t)';

/** STATE's tail holds `:tk` entries (`k` of them; none: maybe no tail at all). */
const tailIs = (k: number): string =>
  k === 0 ? '(attribute_not_exists(tail) OR size(tail) = :tk)' : 'size(tail) = :tk';

/**
 * Why a commit at time `at` was refused, when the group says so: decided (closed), past its deadline,
 * or (a report's) waiting for the adoption of the events kept before its Create.
 */
function refusal(state: GroupState, at: number, adoption: boolean): CommitResult | undefined {
  if (state.status !== OPEN) return { status: 'closed', state };
  if (state.deadlineMs <= at) return { status: 'past-deadline', state };
  if (!adoption && state.hadEarly && !state.adopted) return { status: 'adopting', state };
  return undefined;
}

const bare = ({ i, at, res, err }: TailEntry): PageEntry =>
  err === undefined ? { i, at, res } : { i, at, res, err };

export type CommitResult =
  | { status: 'committed'; state: GroupState; page: number }
  | { status: 'closed'; state: GroupState | undefined }
  | { status: 'past-deadline'; state: GroupState }
  | { status: 'adopting'; state: GroupState };

export interface PagedReports {
  /** Each member's report (its first entry in commit order), in commit order. */
  reports: StoredReport[];
  /** Entries that repeat a member already reported (redeliveries, second reports). */
  duplicates: number;
  /** Committed pages read (STATE's `pages`). */
  pages: number;
}

interface Waiting {
  entry: PageEntry;
  resolve: (r: CommitResult & { lead: boolean }) => void;
  reject: (e: unknown) => void;
}

export class ReportPages {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly meter: CapacityMeter,
    private readonly expiresAtOf: (group: Group) => number,
    /** The group's state, strongly consistent (GroupStore.getState). */
    private readonly readStateOf: (groupId: string) => Promise<GroupState | undefined>,
  ) {}

  /** The latest committed pages and tail seen per group: where the next page goes, what it takes along. */
  private readonly committed = new Map<string, { pages: number; tail: readonly PageEntry[] }>();
  private readonly queues = new Map<string, { busy: boolean; waiting: Waiting[] }>();

  /**
   * Stores and counts one report of a larger group. Reports of one group appended while a commit
   * to it is in flight share the next page and commit (started on the next turn of the event loop,
   * so the reports of a batch handled at once join it); the first of them is its `lead` (it decides).
   * `known`: the group's state as last read (its `pages` says where the next page goes).
   */
  append(
    group: Group,
    known: GroupState | undefined,
    entry: PageEntry,
  ): Promise<CommitResult & { lead: boolean }> {
    const gid = group.definition.id;
    if (known?.pages !== undefined) this.seen(gid, known);
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(gid) ?? { busy: false, waiting: [] };
      this.queues.set(gid, queue);
      queue.waiting.push({ entry, resolve, reject });
      if (!queue.busy) {
        queue.busy = true;
        setImmediate(() => void this.flush(group));
      }
    });
  }

  private seen(gid: string, state: Pick<GroupState, 'pages' | 'tail'>): void {
    const pages = state.pages ?? 0;
    if (pages < (this.committed.get(gid)?.pages ?? 0)) return;
    // A hint only (a wrong one costs a retry): bounded, so a long-lived environment does not grow with every group.
    if (this.committed.size >= 10_000 && !this.committed.has(gid)) this.committed.clear();
    this.committed.set(gid, { pages, tail: (state.tail ?? []).map(bare) });
  }

  /** Where the next page goes and the tail it takes along: as last seen, or read. */
  private async latest(gid: string): Promise<{ pages: number; tail: readonly PageEntry[] }> {
    const cached = this.committed.get(gid);
    if (cached) return cached;
    const state = await this.readState(gid);
    return { pages: state?.pages ?? 0, tail: (state?.tail ?? []).map(bare) };
  }

  private async flush(group: Group): Promise<void> {
    const gid = group.definition.id;
    const queue = this.queues.get(gid);
    if (!queue) return;
    while (queue.waiting.length > 0) {
      const sharing = queue.waiting.splice(0);
      try {
        const entries = sharing.map((w) => w.entry);
        const [only] = entries;
        const appended =
          only && entries.length === 1 && fitsTail(only) ? await this.appendTail(group, only) : 'full';
        const result = appended === 'full' ? await this.commitEntries(group, entries, false) : appended;
        sharing.forEach((w, i) => {
          w.resolve({ ...result, lead: i === 0 });
        });
      } catch (error) {
        for (const w of sharing) w.reject(error);
      }
    }
    queue.busy = false;
    this.queues.delete(gid);
  }

  /**
   * Writes `entries` as new pages and commits them, in order. `adoption`: the entries are early
   * reports being adopted by their group (committed while the adoption is pending; reports are not).
   * Returns the state after the last commit, or why the entries were not committed.
   */
  async commitEntries(group: Group, entries: readonly PageEntry[], adoption: boolean): Promise<CommitResult> {
    let last: CommitResult | undefined;
    for (const page of split(entries)) {
      last = await this.commitPage(group, page, adoption);
      if (last.status !== 'committed') return last;
    }
    if (!last) throw new RangeError('no entries to commit');
    return last;
  }

  private async commitPage(group: Group, entries: PageEntry[], adoption: boolean): Promise<CommitResult> {
    const gid = group.definition.id;
    const token = randomUUID();
    for (let attempt = 0; attempt < 64; attempt++) {
      // The tail committed into STATE so far comes first: this page's commit moves it here.
      const { pages: n, tail } = await this.latest(gid);
      const all = [...tail, ...entries];
      const mine: PageItem = {
        ...pageKey(gid, group.createdMs, n, pagePartitions(group.definition.expected.length)),
        kind: ITEM_KINDS.page,
        gid,
        n,
        at: Math.max(...all.map((e) => e.at)),
        by: token,
        ...(adoption ? { adoption: true } : {}),
        ...(tail.length > 0 ? { tk: tail.length } : {}),
        e: all,
        expiresAt: this.expiresAtOf(group),
      };
      const other = await this.putPage(mine);
      if (other && other.by !== token) {
        // Page n is another writer's: in flight, or left uncommitted by a writer that died. Commit it
        // on its behalf (or void it when it can never be committed), then try the next number.
        const helped = await this.settle(other, adoption);
        if (helped.status === 'moved') continue;
        return helped.result;
      }
      // This writer's page from an attempt whose commit found another tail: written again with this one.
      if (other && (other.tk ?? 0) !== tail.length) await this.replacePage(mine);
      const result = await this.commit(mine, adoption);
      if (result.status === 'moved' || result.status === 'tail') continue; // voided, or another tail: again
      return result.result;
    }
    throw new InconsistentStateError(`group ${gid}: no page number could be taken after 64 attempts`);
  }

  /**
   * Commits one small report into STATE's tail: one conditional write, only while open, before the
   * deadline at its time, early events adopted, and the tail as long as last seen (so a retried write
   * that applied finds its own entry and is not counted twice). `full`: the tail holds TAIL_MAX
   * entries; the report goes into a page (which takes the tail along).
   */
  private async appendTail(group: Group, entry: PageEntry): Promise<CommitResult | 'full'> {
    const gid = group.definition.id;
    const token = randomUUID().slice(0, 8);
    let k = (await this.latest(gid)).tail.length;
    for (let attempt = 0; attempt < 16 && k < TAIL_MAX; attempt++) {
      const written = await this.writeState(gid, {
        UpdateExpression:
          'SET tail = list_append(if_not_exists(tail, :none), :e) ADD reported :one, failedCount :f',
        ConditionExpression: `#st = :open AND deadlineMs > :at AND ${ADOPTED} AND ${tailIs(k)}`,
        ExpressionAttributeValues: {
          ':none': [],
          ':e': [{ ...entry, by: token }],
          ':one': 1,
          ':f': entry.err === undefined ? 0 : 1,
          ':open': OPEN,
          ':at': entry.at,
          ':t': true,
          ':tk': k,
        },
      });
      if (written.ok) return { status: 'committed', state: written.state, page: written.state.pages ?? 0 };
      const { item, state } = written;
      if (!item || !state) return { status: 'closed', state: undefined };
      // This write applied already (the SDK retried it after a lost reply): its entry is there.
      if (item.tail?.some((e) => e.by === token))
        return { status: 'committed', state, page: state.pages ?? 0 };
      this.seen(gid, state);
      const refused = refusal(state, entry.at, false);
      if (refused) return refused;
      k = item.tail?.length ?? 0;
    }
    return 'full';
  }

  /** Writes this writer's own page at its number again (another tail to take along). */
  private async replacePage(page: PageItem): Promise<void> {
    const out = await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: page,
        ConditionExpression: '#by = :by',
        ExpressionAttributeNames: { '#by': 'by' },
        ExpressionAttributeValues: { ':by': page.by },
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    this.meter.add(out.ConsumedCapacity, 'write');
  }

  /** Commits a page found at its number on behalf of its writer, or voids it if it never can be. */
  private async settle(
    page: PageItem,
    adoption: boolean,
  ): Promise<{ status: 'moved' } | { status: 'final'; result: CommitResult }> {
    // Voided (or another writer moved past it meanwhile): the next number; otherwise settle it again.
    const voided = async () =>
      (await this.voidPage(page)) ? { status: 'moved' as const } : this.settle(page, adoption);
    // A report's page written while the adoption was pending must not come before the early reports.
    if (adoption && !page.adoption) return voided();
    const result = await this.commit(page, page.adoption === true);
    // It took along a tail that has changed since: it can never be committed.
    if (result.status === 'tail') return voided();
    if (result.status === 'moved') return result;
    const r = result.result;
    if (r.status === 'committed') return { status: 'moved' };
    // Its entries came at or after the deadline: it holds nothing; later pages may still count.
    if (r.status === 'past-deadline' && page.at >= r.state.deadlineMs) return voided();
    return result;
  }

  /**
   * The commit of page `n`: `pages` n → n + 1 with its counts, only while open, before the deadline
   * at the page's time, and (for reports) once events kept before the Create are adopted. A commit
   * that finds `pages` past n (its own retried write, or a helper) holds unless page n was voided.
   */
  private async commit(
    page: PageItem,
    adoption: boolean,
  ): Promise<{ status: 'moved' } | { status: 'tail' } | { status: 'final'; result: CommitResult }> {
    const gid = page.gid;
    const tk = page.tk ?? 0;
    const added = page.e.slice(tk);
    const failed = added.filter((e) => e.err !== undefined).length;
    const written = await this.writeState(gid, {
      UpdateExpression: `SET pages = :next ADD reported :k, failedCount :f${tk > 0 ? ' REMOVE tail' : ''}`,
      ConditionExpression: `#st = :open AND pages = :n AND deadlineMs > :at${adoption ? '' : ` AND ${ADOPTED}`} AND ${tailIs(tk)}`,
      ExpressionAttributeValues: {
        ':open': OPEN,
        ':n': page.n,
        ':next': page.n + 1,
        ':at': page.at,
        ':k': added.length,
        ':f': failed,
        ':tk': tk,
        ...(adoption ? {} : { ':t': true }),
      },
    });
    if (written.ok) {
      return { status: 'final', result: { status: 'committed', state: written.state, page: page.n } };
    }
    const { state } = written;
    if (!state) return { status: 'final', result: { status: 'closed', state: undefined } };
    const pages = state.pages ?? 0;
    if (pages > page.n) {
      this.seen(gid, state);
      if (state.voids?.includes(page.n)) return { status: 'moved' };
      // Committed already: by this writer (the SDK retried a write whose reply was lost) or a helper.
      return { status: 'final', result: { status: 'committed', state, page: page.n } };
    }
    if (pages < page.n && state.status === OPEN) {
      // Written past the committed pages (a stale count): the page stays there (the writer that
      // reaches its number settles it: a duplicate at worst); this writer writes again where it belongs.
      this.committed.delete(gid);
      return { status: 'moved' };
    }
    const refused = refusal(state, page.at, adoption);
    if (refused) return { status: 'final', result: refused };
    // The tail changed since the page was written: written again with the tail as it is now.
    this.seen(gid, state);
    return { status: 'tail' };
  }

  /**
   * One conditional update of STATE (`#st` names `status`), metered: the state after it (also noted
   * as the latest seen), or, its condition failing, the item as it was and its state (none: no group).
   */
  private async writeState(
    gid: string,
    update: Pick<
      UpdateCommandInput,
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'
    >,
  ): Promise<
    | { ok: true; state: GroupState }
    | { ok: false; item: StateItem | undefined; state: GroupState | undefined }
  > {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.state(gid),
          ...update,
          ExpressionAttributeNames: { '#st': 'status' },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      const state = stateOf(out.Attributes as StateItem);
      this.seen(gid, state);
      return { ok: true, state };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const item = error.Item ? (unmarshall(error.Item) as StateItem) : undefined;
      return { ok: false, item, state: item && item.status !== undefined ? stateOf(item) : undefined };
    }
  }

  /** Marks page `n` as holding nothing (it is skipped by readers) and moves past it. */
  private async voidPage(page: PageItem): Promise<boolean> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.state(page.gid),
          UpdateExpression: 'SET pages = :next ADD voids :v',
          ConditionExpression: 'pages = :n',
          ExpressionAttributeValues: { ':n': page.n, ':next': page.n + 1, ':v': new Set([page.n]) },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      this.meter.add(out.ConsumedCapacity, 'write');
      this.committed.delete(page.gid);
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      this.committed.delete(page.gid);
      return (await this.readState(page.gid))?.pages !== page.n;
    }
  }

  /** Puts a page at its number; returns the page already there, if any (its own on an SDK retry). */
  private putPage(page: PageItem): Promise<PageItem | undefined> {
    return putIfAbsent(this.doc, this.tableName, this.meter, page);
  }

  private readState(gid: string): Promise<GroupState | undefined> {
    return this.readStateOf(gid);
  }

  /**
   * The group's reports from its committed pages (`state.pages`, less `state.voids`), folded in
   * commit order: a member's first entry is its report, later ones are duplicates.
   */
  async read(group: Group, state: Pick<GroupState, 'pages' | 'voids' | 'tail'>): Promise<PagedReports> {
    const gid = group.definition.id;
    const pages = state.pages ?? 0;
    const voids = new Set(state.voids ?? []);
    const found: PageItem[] = [];
    if (pages > 0) {
      const partitions = pagePartitions(group.definition.expected.length);
      await Promise.all(
        Array.from({ length: partitions }, async (_, p) => {
          let start: Record<string, unknown> | undefined;
          do {
            const out = await this.doc.send(
              new QueryCommand({
                TableName: this.tableName,
                KeyConditionExpression: 'pk = :pk',
                ExpressionAttributeValues: { ':pk': pageKey(gid, group.createdMs, p, partitions).pk },
                ConsistentRead: true,
                ExclusiveStartKey: start,
                ReturnConsumedCapacity: 'TOTAL',
              }),
            );
            this.meter.add(out.ConsumedCapacity, 'read');
            for (const item of (out.Items ?? []) as PageItem[]) {
              if (item.n < pages && !voids.has(item.n)) found.push(item);
            }
            start = out.LastEvaluatedKey;
          } while (start);
        }),
      );
    }
    found.sort((a, b) => a.n - b.n);
    const expected = group.definition.expected;
    const seen = new Set<number>();
    const reports: StoredReport[] = [];
    let duplicates = 0;
    // The tail comes after the committed pages: it was committed after them.
    for (const page of [...found.map((f) => f.e), [...(state.tail ?? [])]]) {
      for (const e of page) {
        const member = expected[e.i];
        if (member === undefined || seen.has(e.i)) {
          duplicates++;
          continue;
        }
        seen.add(e.i);
        reports.push({ member, result: e.res, error: e.err, atMs: e.at });
      }
    }
    return { reports, duplicates, pages };
  }
}

/** Entries in pages of at most PAGE_BYTES (in order). */
function split(entries: readonly PageEntry[]): PageEntry[][] {
  const pages: PageEntry[][] = [];
  let current: PageEntry[] = [];
  let bytes = 0;
  for (const e of entries) {
    const size = Buffer.byteLength(e.res) + Buffer.byteLength(e.err ?? '') + 32;
    if (current.length > 0 && bytes + size > PAGE_BYTES) {
      pages.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length > 0) pages.push(current);
  return pages;
}
