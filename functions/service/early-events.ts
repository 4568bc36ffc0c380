import { DeadLetterError, DLQ_REASONS, EarlyAdoptionPendingError } from '#core/errors.ts';
import type { CancelRequest, ExtendRequest } from '#core/events.ts';
import type { EarlyCancel, EarlyExtend, EarlyReport, Group, GroupState } from '#core/model.ts';
import { expiryOwner, late, notExpected, type RecordResult, recordedBefore } from './records.ts';
import { Reports } from './reports.ts';

const neverCreated = (groupId: string, waitSeconds: number): DeadLetterError =>
  new DeadLetterError(
    DLQ_REASONS.groupNeverCreated,
    `group "${groupId}" was never created within ${waitSeconds} seconds`,
  );

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
    atMs?: number,
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
    const earlyCancel = await this.liveEarlyCancel(groupId);
    if (earlyCancel) {
      if (!(await this.adoptEarlyReports(group, nowMs, owner, earlyCancel))) return false;
      // Claimed first: held by another live actor, that one applies it and what follows (nothing
      // recorded after it may be dropped unless this actor applies it). Condemned: it never counts.
      const claim = await this.store.claimEarlyCancel(groupId, owner, nowMs);
      if (claim === 'adopt') return false;
    }
    if (earlyCancel && (await this.liveEarlyCancel(groupId))) {
      // Only the reports recorded before it count: the Cancel must not adopt the later ones first,
      // nor (a small group reads early copies with its reports) read them.
      this.adopting.add(groupId);
      try {
        if (this.store.isSingle(group.definition))
          await this.dropEarlyAfter(group, earlyCancel, nowMs, owner);
        const applied = await this.applyEarlyCancel(group, earlyCancel, nowMs, owner);
        // Held by another live actor: it applies the Cancel, then adopts what was recorded after it.
        if (applied === late && (await this.liveEarlyCancel(groupId))) return false;
      } finally {
        this.adopting.delete(groupId);
      }
    }
    return this.adoptEarlyReports(group, nowMs, owner);
  }

  /** The group's early Cancel unless its expiry condemned it (dead-lettered, it never counts). */
  private async liveEarlyCancel(groupId: string): Promise<EarlyCancel | undefined> {
    const early = await this.store.getEarlyCancel(groupId);
    return early?.claim === 'dead' ? undefined : early;
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
      if ((await this.store.claimEarly(groupId, early.report.member, owner, nowMs)) !== 'claimed') continue;
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
        // Claimed as for an adoption: a stranger's report is dead-lettered, then deleted.
        if ((await this.store.claimEarly(groupId, member, owner, nowMs)) !== 'claimed') continue;
        await this.deadLetter(early.raw, notExpected(member, groupId));
        await this.store.discardEarly(groupId, member, true);
        continue;
      }
      const claim = await this.store.claimEarly(groupId, member, owner, nowMs);
      // Held by another live adopter: the group waits for it (the claim lapses if it died). Condemned
      // by its expiry before the Create: dead-lettered, it never counts.
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
   * Events kept before the group's Create count once adopted (a larger group's reports once committed to
   * its pages; a small group's early Cancel once applied): a decision
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
    // A small group is never marked adopted: one that kept events before its Create looks each time.
    if (!state.hadEarly || state.adopted) return;
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
  ): Promise<RecordResult> {
    const groupId = group.definition.id;
    if ((await this.store.claimEarlyExtend(groupId, early.origin, owner, nowMs)) !== 'claimed') return late;
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
  ): Promise<RecordResult> {
    const groupId = group.definition.id;
    if ((await this.store.claimEarlyCancel(groupId, owner, nowMs)) !== 'claimed') return late;
    const result = await this.cancelCreated(group, early.cancel, nowMs, owner, group.createdMs);
    await this.store.discardEarlyCancel(groupId, true);
    return result;
  }

  /**
   * An early report waited `earlyReportWaitSeconds` for its group. From the sweeper the report is still
   * stored: it is condemned in one transaction with a check that the group does not exist, then
   * dead-lettered as `group never created` and deleted; if the group exists after all, it is claimed
   * and applied like an adoption. From the TTL stream handler (`removedByTtl`) it is already gone
   * from the table, so no adoption can find it any more: applied if the group exists and it was not
   * condemned, otherwise dead-lettered (again, if its expiry got that far).
   */
  async expireEarly(early: EarlyReport, nowMs: number, removedByTtl: boolean): Promise<RecordResult> {
    const { group: groupId, member } = early.report;
    const owner = expiryOwner(early.raw, removedByTtl);
    const fate = await this.fateOfExpired(
      early.claim,
      removedByTtl,
      () => this.store.condemnEarly(groupId, member, owner),
      () => this.store.claimEarly(groupId, member, owner, nowMs),
      groupId,
    );
    if (fate === 'none') return late;
    if (fate === 'apply') return this.applyExpired(early, nowMs, removedByTtl, owner);
    const error = neverCreated(groupId, this.settings.earlyReportWaitSeconds);
    await this.deadLetter(early.raw, error);
    if (!removedByTtl) await this.store.discardEarly(groupId, member);
    return { status: 'dead', reason: error.reason, message: error.message };
  }

  /**
   * What an expiry does with an early event: `dead` (dead-letter it: condemned, now or before),
   * `apply` (its group exists and this expiry holds it for adoption) or `none` (another actor has it,
   * or it is gone).
   */
  private async fateOfExpired(
    claim: EarlyReport['claim'],
    removedByTtl: boolean,
    condemn: () => Promise<'dead' | 'created' | 'adopt' | 'gone'>,
    adopt: () => Promise<'claimed' | 'adopt' | 'dead' | 'gone'>,
    groupId: string,
  ): Promise<'dead' | 'apply' | 'none'> {
    // Condemned once, dead for good: whoever finds it so (a retried expiry) finishes its dead letter.
    if (claim === 'dead') return 'dead';
    if (removedByTtl) return (await this.store.getGroup(groupId)) ? 'apply' : 'dead';
    const condemned = await condemn();
    if (condemned === 'dead') return 'dead';
    if (condemned === 'gone') return 'none';
    // The group exists (or an adopter claimed it, so it does): applied by this expiry, unless another
    // live adopter holds it (it applies it; if it died, its claim lapses and a later sweep takes over).
    return (await adopt()) === 'claimed' ? 'apply' : 'none';
  }

  /**
   * An early Cancel waited `earlyReportWaitSeconds` for its group: applied if the group exists now
   * (through the group's adoption, in recording order with its early reports), otherwise
   * dead-lettered `group-never-created`. Condemned as `expireEarly` condemns a report.
   */
  async expireEarlyCancel(early: EarlyCancel, nowMs: number, removedByTtl: boolean): Promise<RecordResult> {
    const groupId = early.cancel.group;
    const owner = expiryOwner(early.raw, removedByTtl);
    const fate = await this.fateOfExpired(
      early.claim,
      removedByTtl,
      () => this.store.condemnEarlyCancel(groupId, owner),
      () => this.store.claimEarlyCancel(groupId, owner, nowMs),
      groupId,
    );
    if (fate === 'none') return late;
    if (fate === 'apply') {
      const group = await this.store.getGroup(groupId);
      if (!group) return late;
      if (removedByTtl) return this.cancelCreated(group, early.cancel, nowMs, owner, group.createdMs);
      const done = await this.adoptEarlyEvents(group, nowMs, owner);
      return done ? { status: 'accepted', action: 'cancelled' } : late;
    }
    const error = neverCreated(groupId, this.settings.earlyReportWaitSeconds);
    await this.deadLetter(early.raw, error);
    if (!removedByTtl) await this.store.discardEarlyCancel(groupId);
    return { status: 'dead', reason: error.reason, message: error.message };
  }

  /**
   * An early Extend waited `earlyReportWaitSeconds` for its group: applied if the group exists now
   * (late if its deadline passed at its first stored time), otherwise dead-lettered
   * `group-never-created`. Condemned as `expireEarly` condemns a report.
   */
  async expireEarlyExtend(early: EarlyExtend, nowMs: number, removedByTtl: boolean): Promise<RecordResult> {
    const groupId = early.extend.group;
    const owner = expiryOwner(early.raw, removedByTtl);
    const fate = await this.fateOfExpired(
      early.claim,
      removedByTtl,
      () => this.store.condemnEarlyExtend(groupId, early.origin, owner),
      () => this.store.claimEarlyExtend(groupId, early.origin, owner, nowMs),
      groupId,
    );
    if (fate === 'none') return late;
    if (fate === 'apply') {
      const group = await this.store.getGroup(groupId);
      if (!group) return late;
      const result = await this.extendCreated(group, early.extend, early.origin, early.atMs, nowMs, owner);
      if (!removedByTtl) await this.store.discardEarlyExtend(groupId, early.origin, true);
      return result;
    }
    const error = neverCreated(groupId, this.settings.earlyReportWaitSeconds);
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
