/**
 * The collector's DynamoDB store. It owns the table's layout (layout.ts, items.ts) and offers the
 * operations the collector needs, in the collector's terms (#core/model.ts). Every write is conditional
 * or idempotent and safe to repeat (DESIGN.md "Writes and their conditions"). No rule lives here: the
 * service decides, the store reads and writes.
 *
 * Each kind of item is read and written in one module: groups.ts (DEF and STATE), single.ts (a small
 * group's reports), pages.ts (a larger group's report pages), early.ts (events kept before their
 * Create), members.ts (member items), decisions.ts (the decision and the publish lease), deadlines.ts
 * (the deadline in force, the deadline index, the sweeper's lease). This class builds them over one
 * client and table and offers their operations in one place.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Group, GroupState, StoredReport } from '#core/model.ts';
import { CapacityMeter } from './capacity.ts';
import { bounded, type StoreContext, type StoreOptions, storeContext } from './context.ts';
import { Deadlines } from './deadlines.ts';
import { Decisions } from './decisions.ts';
import { EarlyEvents } from './early.ts';
import { Groups } from './groups.ts';
import { isSingleItem, LAYOUT } from './layout.ts';
import { MemberItems } from './members.ts';
import { ReportPages } from './pages.ts';
import { SingleReports } from './single.ts';

export { PUBLISH_CLAIM_MS, type StoreOptions } from './context.ts';
export type { DecisionArgs, DecisionMode, DecisionResult } from './decisions.ts';

export class GroupStore {
  readonly doc: DynamoDBDocumentClient;
  readonly meter = new CapacityMeter();
  readonly tableName: string;
  readonly publishClaimMs: number;
  readonly earlyLimits: { maxPerGroup: number; maxBytes: number };
  /** A larger group's reports: written once in pages, committed and counted by STATE (pages.ts). */
  readonly pages: ReportPages;
  private readonly context: StoreContext;
  private readonly groups: Groups;
  private readonly members: MemberItems;
  private readonly early: EarlyEvents;
  private readonly single: SingleReports;
  private readonly decisions: Decisions;
  private readonly deadlines: Deadlines;

  // Definitions and state (groups.ts)
  readonly markAdopted: Groups['markAdopted'];
  readonly memberIndex: Groups['memberIndex'];
  readonly createGroup: Groups['createGroup'];
  readonly forget: Groups['forget'];
  readonly cachedGroup: Groups['cachedGroup'];
  readonly getGroup: Groups['getGroup'];
  readonly getGroups: Groups['getGroups'];
  readonly sharedState: Groups['sharedState'];
  readonly getState: Groups['getState'];
  readonly getStates: Groups['getStates'];
  // A small group's reports (single.ts)
  readonly recordSingle: SingleReports['recordSingle'];
  readonly singleReports: SingleReports['singleReports'];
  readonly singleReportsOf: SingleReports['singleReportsOf'];
  // Events kept before their Create (early.ts)
  readonly keepEarly: EarlyEvents['keepEarly'];
  readonly getEarly: EarlyEvents['getEarly'];
  readonly earlyReports: EarlyEvents['earlyReports'];
  readonly claimEarly: EarlyEvents['claimEarly'];
  readonly condemnEarly: EarlyEvents['condemnEarly'];
  readonly keepEarlyCancel: EarlyEvents['keepEarlyCancel'];
  readonly getEarlyCancel: EarlyEvents['getEarlyCancel'];
  readonly claimEarlyCancel: EarlyEvents['claimEarlyCancel'];
  readonly condemnEarlyCancel: EarlyEvents['condemnEarlyCancel'];
  readonly keepEarlyExtend: EarlyEvents['keepEarlyExtend'];
  readonly getEarlyExtend: EarlyEvents['getEarlyExtend'];
  readonly earlyExtends: EarlyEvents['earlyExtends'];
  readonly claimEarlyExtend: EarlyEvents['claimEarlyExtend'];
  readonly condemnEarlyExtend: EarlyEvents['condemnEarlyExtend'];
  readonly discardEarlyExtend: EarlyEvents['discardEarlyExtend'];
  readonly discardEarlyCancel: EarlyEvents['discardEarlyCancel'];
  readonly adoptEarly: EarlyEvents['adoptEarly'];
  readonly discardEarly: EarlyEvents['discardEarly'];
  // Decisions and publish leases (decisions.ts)
  readonly decide: Decisions['decide'];
  readonly decideOutcome: Decisions['decideOutcome'];
  readonly claimPublish: Decisions['claimPublish'];
  readonly releasePublish: Decisions['releasePublish'];
  readonly loadOutcome: Decisions['loadOutcome'];
  readonly markPublished: Decisions['markPublished'];
  // Deadlines, the deadline index and the sweeper's lease (deadlines.ts)
  readonly extendDeadline: Deadlines['extendDeadline'];
  readonly dueEntries: Deadlines['dueEntries'];
  readonly deferDue: Deadlines['deferDue'];
  readonly acquireSweeperLease: Deadlines['acquireSweeperLease'];
  readonly releaseSweeperLease: Deadlines['releaseSweeperLease'];
  // Member items (members.ts)
  readonly readReport: MemberItems['readReport'];
  readonly storedReportsOf: MemberItems['storedReportsOf'];

  constructor(client: DynamoDBClient, options: StoreOptions) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
    this.context = storeContext(this.doc, this.meter, options);
    this.tableName = this.context.tableName;
    this.publishClaimMs = this.context.publishClaimMs;
    this.earlyLimits = this.context.earlyLimits;
    this.groups = new Groups(this.context);
    this.pages = new ReportPages(
      this.doc,
      this.tableName,
      this.meter,
      (group) => this.groups.dataExpiresAt(group),
      (groupId) => this.groups.getState(groupId),
    );
    this.members = new MemberItems(this.context, this.groups, this.pages);
    this.early = new EarlyEvents(this.context, this.members);
    this.single = new SingleReports(this.context, this.groups, this.members, this.early);
    this.decisions = new Decisions(this.context);
    this.deadlines = new Deadlines(this.context);
    this.markAdopted = this.groups.markAdopted.bind(this.groups);
    this.memberIndex = this.groups.memberIndex.bind(this.groups);
    this.createGroup = this.groups.createGroup.bind(this.groups);
    this.forget = this.groups.forget.bind(this.groups);
    this.cachedGroup = this.groups.cachedGroup.bind(this.groups);
    this.getGroup = this.groups.getGroup.bind(this.groups);
    this.getGroups = this.groups.getGroups.bind(this.groups);
    this.sharedState = this.groups.sharedState.bind(this.groups);
    this.getState = this.groups.getState.bind(this.groups);
    this.getStates = this.groups.getStates.bind(this.groups);
    this.recordSingle = this.single.recordSingle.bind(this.single);
    this.singleReports = this.single.singleReports.bind(this.single);
    this.singleReportsOf = this.single.singleReportsOf.bind(this.single);
    this.keepEarly = this.early.keepEarly.bind(this.early);
    this.getEarly = this.early.getEarly.bind(this.early);
    this.earlyReports = this.early.earlyReports.bind(this.early);
    this.claimEarly = this.early.claimEarly.bind(this.early);
    this.condemnEarly = this.early.condemnEarly.bind(this.early);
    this.keepEarlyCancel = this.early.keepEarlyCancel.bind(this.early);
    this.getEarlyCancel = this.early.getEarlyCancel.bind(this.early);
    this.claimEarlyCancel = this.early.claimEarlyCancel.bind(this.early);
    this.condemnEarlyCancel = this.early.condemnEarlyCancel.bind(this.early);
    this.keepEarlyExtend = this.early.keepEarlyExtend.bind(this.early);
    this.getEarlyExtend = this.early.getEarlyExtend.bind(this.early);
    this.earlyExtends = this.early.earlyExtends.bind(this.early);
    this.claimEarlyExtend = this.early.claimEarlyExtend.bind(this.early);
    this.condemnEarlyExtend = this.early.condemnEarlyExtend.bind(this.early);
    this.discardEarlyExtend = this.early.discardEarlyExtend.bind(this.early);
    this.discardEarlyCancel = this.early.discardEarlyCancel.bind(this.early);
    this.adoptEarly = this.early.adoptEarly.bind(this.early);
    this.discardEarly = this.early.discardEarly.bind(this.early);
    this.decide = this.decisions.decide.bind(this.decisions);
    this.decideOutcome = this.decisions.decideOutcome.bind(this.decisions);
    this.claimPublish = this.decisions.claimPublish.bind(this.decisions);
    this.releasePublish = this.decisions.releasePublish.bind(this.decisions);
    this.loadOutcome = this.decisions.loadOutcome.bind(this.decisions);
    this.markPublished = this.decisions.markPublished.bind(this.decisions);
    this.extendDeadline = this.deadlines.extendDeadline.bind(this.deadlines);
    this.dueEntries = this.deadlines.dueEntries.bind(this.deadlines);
    this.deferDue = this.deadlines.deferDue.bind(this.deadlines);
    this.acquireSweeperLease = this.deadlines.acquireSweeperLease.bind(this.deadlines);
    this.releaseSweeperLease = this.deadlines.releaseSweeperLease.bind(this.deadlines);
    this.readReport = this.members.readReport.bind(this.members);
    this.storedReportsOf = this.members.storedReportsOf.bind(this.members);
  }

  /** Whether a report is small enough to keep inline (in a small group's STATE). */
  fitsInline(report: { result: string; error?: string }): boolean {
    return (
      Buffer.byteLength(report.result) + Buffer.byteLength(report.error ?? '') <= LAYOUT.single.maxInlineBytes
    );
  }

  /** Whether a group with this definition lives in one item (LAYOUT.single). */
  isSingle(definition: Group['definition']): boolean {
    return isSingleItem(definition, this.context.singleItemMembers);
  }

  /**
   * A larger group's reports from its committed pages, in commit order (the recording order), holding
   * at most `budgetBytes` of result text; `count`: the pages read (a decision holds only if no page
   * was committed since).
   */
  async pagedReports(
    group: Group,
    state: Pick<GroupState, 'pages' | 'voids' | 'tail' | 'reported'>,
    budgetBytes: number = Number.POSITIVE_INFINITY,
  ): Promise<{ reports: StoredReport[]; unloadedBytes: number; count: number; ordered: true }> {
    const read = await this.pages.read(group, state);
    // Every commit (a page, a tail entry) adds to `reported`: a decision conditioned on it sees them all.
    return { ...bounded(read.reports, budgetBytes), count: state.reported ?? 0, ordered: true };
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
}
