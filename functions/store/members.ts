import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { MemberReport } from '#core/events.ts';
import type { Group, StoredReport } from '#core/model.ts';
import { type StoreContext, StorePart } from './context.ts';
import type { Groups } from './groups.ts';
import { type MemberItem, reportOf } from './items.ts';
import { bucketsOf, ITEM_KINDS, keys, memberBuckets, memberPartition } from './layout.ts';
import type { ReportPages } from './pages.ts';
import { putIfAbsent } from './writes.ts';

export class MemberItems extends StorePart {
  constructor(
    context: StoreContext,
    private readonly groups: Groups,
    private readonly pages: ReportPages,
  ) {
    super(context);
  }

  /** Stores a member item if none is stored; returns the stored one when it exists (first report wins). */
  putMember(item: MemberItem): Promise<MemberItem | undefined> {
    return putIfAbsent(this.doc, this.tableName, this.meter, item);
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
    const kept = (await this.groups.getState(groupId))?.single?.reports.find((r) => r.member === member);
    return kept ? { ...kept, early: false } : undefined;
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
      this.groups.getState(groupId),
    ]);
    const single = state?.single;
    if (!single) {
      // A larger group's reports are in its committed pages; member items hold only early copies.
      const group = await this.groups.getGroup(groupId);
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
  async memberItems<T>(group: Group, map: (item: MemberItem) => T): Promise<T[]> {
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

/** A member item holding `report`, stored at `nowMs`. */
export function memberItem(report: MemberReport, nowMs: number, expiresAt: number): MemberItem {
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
