import {
  DeadLetterError,
  DLQ_REASONS,
  EarlyAdoptionPendingError,
  InconsistentStateError,
  StaleDefinitionError,
} from '#core/errors.ts';
import type { MemberReport } from '#core/events.ts';
import type { Group, GroupState, RawRecord, SingleItemGroup } from '#core/model.ts';
import type { GroupOutcomeKind } from '#core/outcome.ts';
import { decideGroup, isPlain, policyOf, verdictOfCounts } from '#core/rules.ts';
import { late, notExpected, ownerOf, type RecordResult } from './records.ts';
import { Timeouts } from './timeouts.ts';

export abstract class Reports extends Timeouts {
  /** Applies the events kept before the group's Create, in recording order (early-events.ts). */
  protected abstract adoptEarlyEvents(group: Group, nowMs: number, owner: string): Promise<boolean>;

  /**
   * A member's report. `storedAtMs`: when it was first stored, for an early report applied again
   * after its item expired (the contract judges a report by when it was stored, guarantee 9).
   */
  async report(
    report: MemberReport,
    nowMs: number,
    raw: RawRecord,
    storedAtMs?: number,
    owner: string = ownerOf(raw),
    retries = 3,
  ): Promise<RecordResult> {
    const known = this.store.cachedGroup(report.group);
    if (known && storedAtMs === undefined && this.store.isSingle(known.definition)) {
      // A small group this environment has seen: one conditional write stores, counts and tells its state.
      if (this.store.memberIndex(known).has(report.member))
        return this.reportSingle(known, report, nowMs, owner);
      // Not a member of the cached definition: perhaps an earlier group's of this id; read the group.
      this.store.forget(report.group);
    }
    const state = await this.store.sharedState(report.group);
    if (state && state.status !== 'open') {
      // A member the group never expected is bad input whenever it comes, not a late report.
      const decided = await this.store.getGroup(report.group);
      if (decided && !this.store.memberIndex(decided).has(report.member)) {
        throw notExpected(report.member, report.group);
      }
      return this.lateEvent(state, nowMs, owner);
    }
    let group = await this.store.getGroup(report.group);
    if (group && state && state.createdMs !== group.createdMs) {
      // The cached definition is an earlier group's of this id (created again after its retention).
      this.store.forget(report.group);
      group = await this.store.getGroup(report.group);
    }
    let keptEarly = false;
    if (!group) {
      const kept = await this.store.keepEarly(
        report,
        raw,
        nowMs,
        this.settings.earlyReportWaitSeconds * 1000,
      );
      this.refuseUnkept(kept, 'report', report.group);
      if (kept !== 'created') {
        // Kept before the Create's write (both write STATE's key): the Create adopts it.
        this.observer.count('EarlyReports');
        return { status: 'accepted', action: kept === 'kept' ? 'early' : 'duplicate-report' };
      }
      // Created meanwhile: a report of a created group after all (its early copies, if any, go first).
      group = await this.store.getGroup(report.group);
      if (!group) throw new InconsistentStateError(`group ${report.group} is created but has no definition`);
      keptEarly = true;
    }
    if (this.store.isSingle(group.definition)) {
      // A copy kept early (just now, or applied again by its expiry) lives in the member item: adopted through it.
      return this.reportSingle(
        group,
        report,
        nowMs,
        owner,
        storedAtMs,
        keptEarly || storedAtMs !== undefined,
      );
    }
    // The deadline in force is STATE's (an Extend moves it), not the Create's.
    let deadlineMs = state?.deadlineMs ?? group.deadlineMs;
    if (!state) {
      // A group without state: TTL removed the expired group; its timeout is being published.
      const current = await this.store.getState(report.group);
      if (current?.status !== 'open') return this.lateEvent(current, nowMs, owner);
      deadlineMs = current.deadlineMs;
    }
    if (!this.store.memberIndex(group).has(report.member)) throw notExpected(report.member, report.group);
    const atMs = Math.min(storedAtMs ?? nowMs, nowMs);
    if (atMs >= deadlineMs) {
      // Past the deadline the group can only time out: decide it now rather than wait for the sweeper.
      // Not due after all (an Extend moved the deadline after the read): the report is judged again.
      if ((await this.timeoutGroup(report.group, nowMs, undefined, owner)) === 'open' && retries > 0) {
        return this.report(report, nowMs, raw, storedAtMs, owner, retries - 1);
      }
      this.observer.count('LateReports');
      return late;
    }
    void keptEarly;
    // A larger group: the report joins the group's next page, committed by one conditional STATE write.
    const index = this.store.memberIndex(group).get(report.member) as number;
    const entry = {
      i: index,
      at: atMs,
      res: report.result,
      ...(report.error === undefined ? {} : { err: report.error }),
    };
    let latest = state;
    for (let attempt = 0; ; attempt++) {
      const committed = await this.store.pages.append(group, latest, entry);
      if (committed.status === 'committed') {
        // An early copy applied by its expiry: committed now, its early item goes.
        if (storedAtMs !== undefined) await this.store.discardEarly(report.group, report.member, true);
        if (committed.lead) await this.progressPaged(group, committed.state, nowMs, owner);
        return { status: 'accepted', action: 'reported' };
      }
      if (committed.status === 'closed') return this.lateEvent(committed.state, nowMs, owner);
      if (committed.status === 'past-deadline') {
        if ((await this.timeoutGroup(report.group, nowMs, undefined, owner)) === 'open' && attempt < 3) {
          latest = undefined;
          continue;
        }
        this.observer.count('LateReports');
        return late;
      }
      // Events kept before the Create are being adopted: help, then commit after them.
      if (attempt >= 2 || !(await this.adoptEarlyEvents(group, nowMs, owner))) {
        throw new EarlyAdoptionPendingError(report.group);
      }
      latest = undefined;
    }
  }

  /**
   * A report of a small group (LAYOUT.single): stored and counted by one conditional write of its
   * STATE, whose reply is the group's state after it, so the group is decided without another read.
   * `viaMemberItem`: an early copy of it may be stored; it goes through the member item.
   */
  protected async reportSingle(
    group: Group,
    report: MemberReport,
    nowMs: number,
    owner: string,
    storedAtMs?: number,
    viaMemberItem = false,
    retries = 3,
  ): Promise<RecordResult> {
    if (!this.store.memberIndex(group).has(report.member)) throw notExpected(report.member, report.group);
    const atMs = Math.min(storedAtMs ?? nowMs, nowMs);
    let recorded: Awaited<ReturnType<typeof this.store.recordSingle>>;
    try {
      recorded = await this.store.recordSingle(group, report, atMs, owner, nowMs, viaMemberItem);
    } catch (error) {
      // This environment's cached definition belonged to an earlier group of the id: read it again.
      const fresh =
        error instanceof StaleDefinitionError ? await this.store.getGroup(report.group) : undefined;
      if (!fresh || retries <= 0) throw error;
      return this.reportSingle(fresh, report, nowMs, owner, storedAtMs, viaMemberItem, retries - 1);
    }
    if (recorded.status === 'expiring') {
      // An early copy of this report that its expiry claimed is being dead-lettered: it must not count.
      this.observer.count('DuplicateReports');
      return { status: 'accepted', action: 'duplicate-report' };
    }
    if (recorded.status === 'closed') {
      const state = recorded.state;
      // Decided (or removed by TTL: its timeout is being published): a late report.
      if (state?.status !== 'open') return this.lateEvent(state, nowMs, owner);
      // Open, but the report comes at or after the deadline: the group can only time out; decide it now.
      // Not due after all (an Extend moved the deadline after this write): the report is judged again.
      if ((await this.timeoutGroup(report.group, nowMs, undefined, owner)) === 'open' && retries > 0) {
        return this.reportSingle(group, report, nowMs, owner, storedAtMs, viaMemberItem, retries - 1);
      }
      this.observer.count('LateReports');
      return late;
    }
    if (recorded.status !== 'new') this.observer.count('DuplicateReports');
    const action = recorded.status === 'new' ? 'reported' : 'duplicate-report';
    const state = recorded.state;
    if (nowMs >= state.deadlineMs) {
      // Stored before the deadline (an early report applied again after it): the deadline decides now.
      await this.timeoutGroup(report.group, nowMs, undefined, owner);
      return { status: 'accepted', action };
    }
    // Of reports sharing one write, the first decides from the state it returned (the others would repeat it).
    if (recorded.lead) await this.progressSingle(group, state, report.member, nowMs, owner);
    return { status: 'accepted', action };
  }

  /** Decides a small group from its state after a report: the member's stored error, the last report, or the counts. */
  protected async progressSingle(
    group: Group,
    state: GroupState & { single: SingleItemGroup },
    member: string,
    nowMs: number,
    owner: string,
  ): Promise<void> {
    const { single } = state;
    const { definition } = group;
    const failed =
      single.reports.filter((r) => r.error !== undefined).length +
      single.referenced.filter((r) => r.failed).length;
    let kind: GroupOutcomeKind | undefined;
    if (!isPlain(definition)) {
      const verdict = verdictOfCounts(policyOf(definition), { succeeded: single.count - failed, failed });
      if (verdict !== 'open') kind = verdict === 'too-many-errors' ? 'member-failure' : 'success';
    } else if (failed > 0) {
      // A plain group fails at its first error: this report's, or one stored earlier whose decision
      // has not happened yet (its delivery failed or is running: the first conditional write wins).
      kind = 'member-failure';
    } else if (single.count >= definition.expected.length) {
      kind = 'success';
    }
    if (kind === undefined) return;
    const known = await this.store.singleReports(single, this.settings.maxOutcomeBytes);
    const errors = known.reports
      .filter((r) => r.error !== undefined)
      .sort((a, b) => a.atMs - b.atMs || a.member.localeCompare(b.member));
    const failing = errors.find((r) => r.member === member) ?? errors[0];
    const failure =
      isPlain(definition) && kind === 'member-failure'
        ? { entity: failing?.member, error: failing?.error }
        : undefined;
    await this.decide(group, kind, nowMs, owner, failure, undefined, state.deadlineMs, known);
  }

  /**
   * Decides a larger group after a commit of its reports, from the counts the commit returned: any
   * error (a plain group), every member counted, or a tolerate/quorum line crossed make it read the
   * committed pages, which say (in commit order, the recording order) whether the group is decided
   * and how; counts that include duplicates (a redelivered batch) only cause that read.
   */
  protected async progressPaged(
    group: Group,
    state: GroupState,
    nowMs: number,
    owner: string,
  ): Promise<void> {
    const { definition } = group;
    const reported = state.reported ?? 0;
    const failed = state.failedCount ?? 0;
    const plain = isPlain(definition);
    const maybe = plain
      ? failed > 0 || reported >= definition.expected.length
      : verdictOfCounts(policyOf(definition), { succeeded: reported - failed, failed }) !== 'open';
    if (!maybe || state.status !== 'open') return;
    const read = await this.store.pagedReports(group, state, this.settings.maxOutcomeBytes);
    if (plain) {
      const first = read.reports.find((r) => r.error !== undefined);
      if (first) {
        await this.decide(
          group,
          'member-failure',
          nowMs,
          owner,
          { entity: first.member, error: first.error },
          undefined,
          state.deadlineMs,
          read,
        );
      } else if (read.reports.length >= definition.expected.length) {
        await this.decide(group, 'success', nowMs, owner, undefined, undefined, state.deadlineMs, read);
      }
      return;
    }
    const verdict = decideGroup(
      {
        definition,
        createdMs: group.createdMs,
        maxTtlSeconds: this.settings.maxTtlSeconds,
        deadlineMs: state.deadlineMs,
        events: read.reports.map((report) => ({ kind: 'report', report })),
      },
      nowMs,
    );
    if (verdict.status === 'open' || verdict.decidedBy === 'deadline') return;
    const kind = verdict.outcome.kind === 'success' ? 'success' : 'member-failure';
    await this.decide(group, kind, nowMs, owner, undefined, undefined, state.deadlineMs, read);
  }

  /** An event before its group that the store would not keep is a dead letter saying which bound it broke. */
  protected refuseUnkept(kept: string, what: 'report' | 'Extend' | 'Cancel', groupId: string): void {
    const { maxBytes, maxPerGroup } = this.store.earlyLimits;
    if (kept === 'too-large') {
      throw new DeadLetterError(
        DLQ_REASONS.valueTooLarge,
        `the ${what} arrived before its group and, kept with its original record, would exceed the ${maxBytes} bytes an early ${what === 'report' ? 'report' : 'event'} may take`,
      );
    }
    if (kept === 'too-many') {
      throw new DeadLetterError(
        DLQ_REASONS.tooManyEarlyReports,
        `group "${groupId}" does not exist yet and already has ${maxPerGroup} reports waiting for it`,
      );
    }
  }
}
