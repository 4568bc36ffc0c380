import { DeadLetterError, DLQ_REASONS, EarlyAdoptionPendingError } from '#core/errors.ts';
import type { CancelRequest, ExtendRequest } from '#core/events.ts';
import type { EarlyCancel, EarlyExtend, EarlyReport, Group, GroupState } from '#core/model.ts';
import { expiryOwner, late, notExpected, type RecordResult, recordedBefore } from './records.ts';
import { Reports } from './reports.ts';

export abstract class EarlyAdoption extends Reports {
  /** An Extend of a group that exists (collector.ts). */
  protected abstract extendCreated(
    group: Group,
    extend: ExtendRequest,
    origin: string,
    atMs: number,
    nowMs: number,
    owner: string,
  ): Promise<RecordResult>;

  /** A Cancel of a group that exists (collector.ts). */
  protected abstract cancelCreated(
    group: Group,
    cancel: CancelRequest,
    nowMs: number,
    owner: string,
    retries?: number,
  ): Promise<RecordResult>;

  /**
   * Applies the events kept before the group's Create, in recording order: Extends that came first
   * move the deadline; the reports recorded before an early Cancel count, then the Cancel fails the
   * group at once (unless they completed it); the reports recorded after it are late. The Create does
   * this, and so does any actor that finds it unfinished (the Create died, or is still at it): a
   * report or a decision of the group, so that none of them acts before the early events are in.
   * Returns whether every early report was adopted (false: another live actor holds one).
   */
  protected async adoptEarlyEvents(group: Group, nowMs: number, owner: string): Promise<boolean> {
    const groupId = group.definition.id;
    for (const early of await this.store.earlyExtends(groupId)) {
      await this.applyEarlyExtend(group, early, nowMs, owner);
    }
    const earlyCancel = await this.store.getEarlyCancel(groupId);
    if (earlyCancel) {
      if (!(await this.adoptEarlyReports(group, nowMs, owner, earlyCancel))) return false;
      // Claimed first: held by another live actor, or by its expiry, that one applies it and what
      // follows (nothing recorded after it may be dropped unless this actor applies it).
      const claim = await this.store.claimEarlyCancel(groupId, 'adopt', owner, nowMs);
      if (claim !== 'claimed' && claim !== 'gone') return false;
    }
    if (earlyCancel && (await this.store.getEarlyCancel(groupId))) {
      // Only the reports recorded before it count: the Cancel must not adopt the later ones first,
      // nor (a small group reads early copies with its reports) read them.
      this.adopting.add(groupId);
      try {
        if (this.store.isSingle(group.definition))
          await this.dropEarlyAfter(group, earlyCancel, nowMs, owner);
        const applied = await this.applyEarlyCancel(group, earlyCancel, nowMs, owner);
        // Held by another live actor: it applies the Cancel, then adopts what was recorded after it.
        if (applied === late && (await this.store.getEarlyCancel(groupId))) return false;
      } finally {
        this.adopting.delete(groupId);
      }
    }
    return this.adoptEarlyReports(group, nowMs, owner);
  }

  /**
   * A small group's early reports recorded after its early Cancel: late once the Cancel applies (or
   * once reports recorded before it completed the group), so deleted before the Cancel's decision
   * reads the group's reports. Each is claimed first, like an adoption.
   */
  protected async dropEarlyAfter(
    group: Group,
    cancel: EarlyCancel,
    nowMs: number,
    owner: string,
  ): Promise<void> {
    const groupId = group.definition.id;
    for (const early of await this.store.earlyReports(group)) {
      if (recordedBefore(early, cancel)) continue;
      if ((await this.store.claimEarly(groupId, early.report.member, 'adopt', owner, nowMs)) !== 'claimed')
        continue;
      this.observer.count('LateReports');
      await this.store.discardEarly(groupId, early.report.member, true);
    }
  }

  /**
   * Reports that arrived before their group: dead-letter those not expected, count the others. Each
   * is claimed first (invariant 2), so an expiry running at the same moment and this adoption never
   * both act on it. A larger group commits them as pages before any other report (its reports wait
   * for `adopted`), then marks STATE adopted. Returns whether every early report was adopted (false:
   * another live actor holds one).
   */
  protected async adoptEarlyReports(
    group: Group,
    nowMs: number,
    owner: string,
    /** Only those recorded before this early Cancel: the rest come after it. */
    before?: EarlyCancel,
  ): Promise<boolean> {
    const expected = this.store.memberIndex(group);
    const groupId = group.definition.id;
    const single = this.store.isSingle(group.definition);
    const claimed: EarlyReport[] = [];
    // Held by another live actor (it finishes that one): not every early report is adopted yet.
    let held = false;
    const all = await this.store.earlyReports(group);
    for (const early of all.filter((e) => before === undefined || recordedBefore(e, before))) {
      const { member } = early.report;
      if (!expected.has(member)) {
        if ((await this.store.claimEarly(groupId, member, 'expire', owner, nowMs)) !== 'claimed') continue;
        await this.deadLetter(early.raw, notExpected(member, groupId));
        await this.store.discardEarly(groupId, member);
        continue;
      }
      const claim = await this.store.claimEarly(groupId, member, 'adopt', owner, nowMs);
      if (claim === 'adopt') held = true;
      if (claim !== 'claimed') continue;
      if (single) {
        // Count first, then adopt: a Create retried in between still finds the report early (and claimed).
        await this.reportSingle(group, early.report, nowMs, owner, early.atMs, true);
        await this.store.adoptEarly(group, member);
      } else {
        claimed.push(early);
      }
    }
    if (single) return !held;
    if (claimed.length > 0) {
      // In the order they were stored: the first report of a member is its first.
      claimed.sort((a, b) => a.atMs - b.atMs);
      const entries = claimed.map((early) => ({
        i: expected.get(early.report.member) as number,
        at: early.atMs,
        res: early.report.result,
        ...(early.report.error === undefined ? {} : { err: early.report.error }),
      }));
      const committed = await this.store.pages.commitEntries(group, entries, true);
      for (const early of claimed) await this.store.discardEarly(groupId, early.report.member, true);
      if (committed.status === 'committed') {
        if (!held && before === undefined) await this.store.markAdopted(groupId);
        await this.progressPaged(group, committed.state, nowMs, owner);
      }
      if (committed.status === 'past-deadline') await this.timeoutGroup(groupId, nowMs, undefined, owner);
      return !held;
    }
    if (!held && before === undefined) await this.store.markAdopted(groupId);
    return !held;
  }

  /**
   * A larger group's reports kept before its Create count once committed to its pages: a decision
   * (a Cancel, a timeout) that finds them not yet adopted (the Create is adopting them, or died doing
   * so) adopts them first; held by a live adopter, the decision is retried (transient).
   */
  protected async ensureAdopted(
    group: Group,
    state: GroupState,
    nowMs: number,
    owner: string,
  ): Promise<void> {
    const groupId = group.definition.id;
    if (this.store.isSingle(group.definition) || !state.hadEarly || state.adopted) return;
    if (this.adopting.has(groupId)) return;
    this.adopting.add(groupId);
    try {
      if (!(await this.adoptEarlyEvents(group, nowMs, owner))) throw new EarlyAdoptionPendingError(groupId);
    } finally {
      this.adopting.delete(groupId);
    }
  }

  /**
   * An early Extend whose group exists: claimed for adoption (an expiry that claimed it first
   * finishes it instead), applied from its first stored time, then kept as that time only.
   */
  protected async applyEarlyExtend(
    group: Group,
    early: EarlyExtend,
    nowMs: number,
    owner: string,
    from?: 'expire',
  ): Promise<RecordResult> {
    const groupId = group.definition.id;
    if (
      (await this.store.claimEarlyExtend(groupId, early.origin, 'adopt', owner, nowMs, from)) !== 'claimed'
    ) {
      return late;
    }
    const result = await this.extendCreated(group, early.extend, early.origin, early.atMs, nowMs, owner);
    // Applied: its origin and time now live in STATE.
    await this.store.discardEarlyExtend(groupId, early.origin, true);
    return result;
  }

  /**
   * An early Cancel whose group exists: claimed for adoption (an expiry that claimed it first
   * finishes it instead), applied to the group, then deleted.
   */
  protected async applyEarlyCancel(
    group: Group,
    early: EarlyCancel,
    nowMs: number,
    owner: string,
    from?: 'expire',
  ): Promise<RecordResult> {
    const groupId = group.definition.id;
    if ((await this.store.claimEarlyCancel(groupId, 'adopt', owner, nowMs, from)) !== 'claimed') return late;
    const result = await this.cancelCreated(group, early.cancel, nowMs, owner);
    await this.store.discardEarlyCancel(groupId, true);
    return result;
  }

  /**
   * An early report waited `earlyReportWaitSeconds` for its group. If the group exists now, the
   * report is applied; otherwise it is dead-lettered as `group never created`. From the sweeper the
   * report is still stored and is claimed first (an adoption that claimed it first finishes it
   * instead); from the TTL stream handler (`removedByTtl`) it is already gone from the table.
   */
  async expireEarly(early: EarlyReport, nowMs: number, removedByTtl: boolean): Promise<RecordResult> {
    const { group: groupId, member } = early.report;
    const owner = expiryOwner(early.raw, removedByTtl);
    if (!removedByTtl) {
      const claim = await this.store.claimEarly(groupId, member, 'expire', owner, nowMs);
      if (claim === 'gone') return late; // adopted or deleted meanwhile
      // Claimed by an adoption (running, or one that did not finish): the adopter or its redelivery
      // finishes it. This expiry's own earlier run may be that adopter (it handed its claim over on
      // finding the group, then failed): it takes its claim back and finishes.
      if (
        claim === 'adopt' &&
        (await this.store.claimEarly(groupId, member, 'adopt', owner, nowMs)) !== 'claimed'
      ) {
        return late;
      }
    }
    // Removed by TTL while its expiry had claimed it: that expiry may have dead-lettered it already.
    const expiring = removedByTtl && early.claim === 'expire';
    if (!expiring && (await this.store.getGroup(groupId))) {
      if (
        !removedByTtl &&
        (await this.store.claimEarly(groupId, member, 'adopt', owner, nowMs, 'expire')) !== 'claimed'
      ) {
        return late;
      }
      return this.applyExpired(early, nowMs, removedByTtl, owner);
    }
    const error = new DeadLetterError(
      DLQ_REASONS.groupNeverCreated,
      `group "${groupId}" was never created within ${this.settings.earlyReportWaitSeconds} seconds`,
    );
    await this.deadLetter(early.raw, error);
    if (!removedByTtl) await this.store.discardEarly(groupId, member);
    return { status: 'dead', reason: error.reason, message: error.message };
  }

  /**
   * An early Cancel waited `earlyReportWaitSeconds` for its group: applied if the group exists now,
   * otherwise dead-lettered `group-never-created`. Claimed as `expireEarly` claims a report.
   */
  async expireEarlyCancel(early: EarlyCancel, nowMs: number, removedByTtl: boolean): Promise<RecordResult> {
    const groupId = early.cancel.group;
    const owner = expiryOwner(early.raw, removedByTtl);
    if (!removedByTtl) {
      const claim = await this.store.claimEarlyCancel(groupId, 'expire', owner, nowMs);
      if (claim === 'gone') return late;
      // Claimed by the group's Create (running, or one that did not finish): it or its redelivery
      // applies it; or by this expiry's own earlier run, which handed it over and failed: taken back.
      if (
        claim === 'adopt' &&
        (await this.store.claimEarlyCancel(groupId, 'adopt', owner, nowMs)) !== 'claimed'
      ) {
        return late;
      }
    }
    const expiring = removedByTtl && early.claim === 'expire';
    const group = expiring ? undefined : await this.store.getGroup(groupId);
    if (group) {
      if (!removedByTtl) {
        // Handed to adoption, then applied in recording order with the group's early reports.
        if ((await this.store.claimEarlyCancel(groupId, 'adopt', owner, nowMs, 'expire')) !== 'claimed') {
          return late;
        }
        const done = await this.adoptEarlyEvents(group, nowMs, owner);
        return done ? { status: 'accepted', action: 'cancelled' } : late;
      }
      return this.cancelCreated(group, early.cancel, nowMs, owner);
    }
    const error = new DeadLetterError(
      DLQ_REASONS.groupNeverCreated,
      `group "${groupId}" was never created within ${this.settings.earlyReportWaitSeconds} seconds`,
    );
    await this.deadLetter(early.raw, error);
    if (!removedByTtl) await this.store.discardEarlyCancel(groupId);
    return { status: 'dead', reason: error.reason, message: error.message };
  }

  /**
   * An early Extend waited `earlyReportWaitSeconds` for its group: applied if the group exists now
   * (late if its deadline passed), otherwise dead-lettered `group-never-created`. Claimed as
   * `expireEarlyCancel` claims a Cancel.
   */
  async expireEarlyExtend(early: EarlyExtend, nowMs: number, removedByTtl: boolean): Promise<RecordResult> {
    const groupId = early.extend.group;
    const owner = expiryOwner(early.raw, removedByTtl);
    if (!removedByTtl) {
      const claim = await this.store.claimEarlyExtend(groupId, early.origin, 'expire', owner, nowMs);
      if (claim === 'gone') return late;
      // As for a Cancel: the Create's, or this expiry's own earlier run's, taken back.
      if (
        claim === 'adopt' &&
        (await this.store.claimEarlyExtend(groupId, early.origin, 'adopt', owner, nowMs)) !== 'claimed'
      ) {
        return late;
      }
    }
    const expiring = removedByTtl && early.claim === 'expire';
    const group = expiring ? undefined : await this.store.getGroup(groupId);
    if (group) {
      if (!removedByTtl) return this.applyEarlyExtend(group, early, nowMs, owner, 'expire');
      return this.extendCreated(group, early.extend, early.origin, early.atMs, nowMs, owner);
    }
    const error = new DeadLetterError(
      DLQ_REASONS.groupNeverCreated,
      `group "${groupId}" was never created within ${this.settings.earlyReportWaitSeconds} seconds`,
    );
    await this.deadLetter(early.raw, error);
    if (!removedByTtl) await this.store.discardEarlyExtend(groupId, early.origin);
    return { status: 'dead', reason: error.reason, message: error.message };
  }

  /** An expired early report whose group exists: applied as a report; a stranger's is a dead letter. */
  protected async applyExpired(
    early: EarlyReport,
    nowMs: number,
    removedByTtl: boolean,
    owner: string,
  ): Promise<RecordResult> {
    const { group: groupId, member } = early.report;
    let result: RecordResult;
    try {
      result = await this.report(early.report, nowMs, early.raw, early.atMs, owner);
    } catch (cause) {
      if (!(cause instanceof DeadLetterError)) throw cause;
      await this.deadLetter(early.raw, cause);
      result = { status: 'dead', reason: cause.reason, message: cause.message };
    }
    // Late (the group is decided) or dead: the early copy must not wait for the next sweep forever.
    if (!removedByTtl && result.status !== 'accepted') await this.store.discardEarly(groupId, member, true);
    return result;
  }
}
