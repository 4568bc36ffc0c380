/**
 * The collector's use cases, shared by the three functions: a group is created, a member
 * reports, a deadline passes, an early report waits too long. Each reads top to bottom:
 * decide what the record is, one or two store operations, publish.
 * Rules come from #core (pure); reads and writes from the store; messages go through the publisher.
 */
import { randomUUID } from 'node:crypto';
import {
  DeadLetterError,
  DLQ_REASONS,
  EarlyAdoptionPendingError,
  InconsistentStateError,
} from '#core/errors.ts';
import {
  type CancelRequest,
  type DecodeLimits,
  decodeValue,
  type ExtendRequest,
  type GroupDefinition,
  type MemberReport,
} from '#core/events.ts';
import {
  definitionHash,
  type EarlyCancel,
  type EarlyExtend,
  type EarlyReport,
  type Group,
  type GroupState,
  type RawRecord,
  type SingleItemGroup,
  type StoredReport,
} from '#core/model.ts';
import { buildBoundedOutcome, type GroupOutcomeKind } from '#core/outcome.ts';
import {
  allReported,
  cancelledInput,
  decideGroup,
  extendedDeadline,
  isPlain,
  outcomeInput,
  policyOf,
  recordingOrder,
  statusOf,
  verdictOfCounts,
} from '#core/rules.ts';
import type { Publisher } from '#publish/publisher.ts';
import { settleAll } from '#shared/batch.ts';
import type { Observer } from '#shared/metrics.ts';
import { silentObserver } from '#shared/metrics.ts';
import type { GroupStore } from '#store/group-store.ts';
import { deadLetterMessage } from './dead-letters.ts';

export interface CollectorSettings extends DecodeLimits {
  outcomeTopic: string;
  deadLetterTopic: string;
  earlyReportWaitSeconds: number;
  maxOutcomeBytes: number;
}

export type RecordResult =
  | {
      status: 'accepted';
      action:
        | 'created'
        | 'duplicate-create'
        | 'reported'
        | 'early'
        | 'duplicate-report'
        | 'cancelled'
        | 'extended';
    }
  | { status: 'ignored'; reason: 'outcome-type' | 'late' }
  | { status: 'dead'; reason: string; message: string };

const late: RecordResult = { status: 'ignored', reason: 'late' };

export class Collector {
  /** Larger groups whose early reports this process is adopting before a decision (no nesting). */
  private readonly adopting = new Set<string>();

  constructor(
    private readonly store: GroupStore,
    private readonly publisher: Publisher,
    private readonly settings: CollectorSettings,
    private readonly observer: Observer = silentObserver,
  ) {}

  /** Decodes one record and applies it. Dead letters are published here; transient faults throw. */
  async handleRecord(raw: RawRecord, nowMs: number): Promise<RecordResult> {
    try {
      if (raw.malformed) {
        throw new DeadLetterError(DLQ_REASONS.invalidField, `record not readable: ${raw.malformed}`);
      }
      const decoded = decodeValue(raw.value, this.settings);
      if (decoded.kind === 'ignored') return { status: 'ignored', reason: 'outcome-type' };
      if (decoded.kind === 'create') return await this.create(decoded.definition, nowMs, ownerOf(raw));
      if (decoded.kind === 'cancel') return await this.cancel(decoded.cancel, nowMs, raw);
      if (decoded.kind === 'extend') return await this.extend(decoded.extend, nowMs, raw);
      return await this.report(decoded.report, nowMs, raw);
    } catch (error) {
      if (!(error instanceof DeadLetterError)) throw error;
      await this.deadLetter(raw, error);
      return { status: 'dead', reason: error.reason, message: error.message };
    }
  }

  async create(
    definition: GroupDefinition,
    nowMs: number,
    owner: string = ownerOf(undefined),
  ): Promise<RecordResult> {
    const replyTo = definition.replyTo;
    if (replyTo && this.publisher.destinationExists && !(await this.publisher.destinationExists(replyTo))) {
      // Refused now rather than failing the publish of its outcome on every retry later.
      throw new DeadLetterError(
        DLQ_REASONS.replyTopicUnknown,
        `replyTo topic "${replyTo}" does not exist or is not visible to the collector`,
      );
    }
    const proposed: Group = {
      definition,
      defHash: definitionHash(definition),
      outcomeTopic: replyTo ?? this.settings.outcomeTopic,
      createdMs: nowMs,
      deadlineMs: nowMs + definition.ttlSeconds * 1000,
    };
    const created = await this.store.createGroup(proposed);
    if (!created.created && created.existing === undefined) {
      // Retrying would never succeed: the id's old state stays until DynamoDB's TTL removes it.
      throw new DeadLetterError(
        DLQ_REASONS.createConflict,
        `group "${definition.id}" was used by an earlier group whose records are still being removed; use a new id`,
      );
    }
    if (!created.created && created.existing.defHash !== proposed.defHash) {
      throw new DeadLetterError(
        DLQ_REASONS.createConflict,
        `group "${definition.id}" already exists with a different definition`,
      );
    }
    const group = created.created ? proposed : created.existing;
    if (created.created) this.observer.count('GroupsCreated');
    // Events kept before the Create marked its STATE key (`hadEarly`), and none can be kept once it is
    // written: the Create's write and each keep are ordered on that one item, so they never miss each
    // other. A redelivered Create looks again (its first delivery may have died while applying them).
    const hadEarly = created.created
      ? created.hadEarly
      : (await this.store.getState(definition.id))?.hadEarly === true;
    if (hadEarly) {
      // In recording order: Extends that came first move the deadline; the reports stored before an
      // early Cancel count, then the Cancel fails the group at once (unless they completed it); the
      // reports stored after it are late.
      for (const early of await this.store.earlyExtends(definition.id)) {
        await this.applyEarlyExtend(group, early, nowMs, owner);
      }
      const earlyCancel = await this.store.getEarlyCancel(definition.id);
      if (earlyCancel) {
        await this.adoptEarlyReports(group, nowMs, owner, earlyCancel.atMs);
        // Only the reports stored before it count: the Cancel must not adopt the later ones first.
        this.adopting.add(definition.id);
        try {
          await this.applyEarlyCancel(group, earlyCancel, nowMs, owner);
        } finally {
          this.adopting.delete(definition.id);
        }
      }
      await this.adoptEarlyReports(group, nowMs, owner);
    }
    if (!created.created) {
      // A redelivered Create: finish a publish that an earlier delivery may not have completed.
      const state = await this.store.getState(definition.id);
      if (state) await this.ensurePublished(state, nowMs, { owner });
    }
    return { status: 'accepted', action: created.created ? 'created' : 'duplicate-create' };
  }

  /**
   * Reports that arrived before their group: dead-letter those not expected, count the others.
   * Each is claimed first, so that an expiry running at the same moment and this adoption never
   * both act on it (a report is never both dead-lettered and counted).
   */
  /** An event before its group that the store would not keep is a dead letter saying which bound it broke. */
  private refuseUnkept(kept: string, what: 'report' | 'Extend' | 'Cancel', groupId: string): void {
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

  /**
   * Reports that arrived before their group: dead-letter those not expected, count the others. Each
   * is claimed first (invariant 2), so an expiry running at the same moment and this adoption never
   * both act on it. A larger group commits them as pages before any other report (its reports wait
   * for `adopted`), then marks STATE adopted. Returns whether every early report was adopted (false:
   * another live actor holds one).
   */
  private async adoptEarlyReports(
    group: Group,
    nowMs: number,
    owner: string,
    /** Only those stored before this time (an early Cancel's): the rest come after it. */
    beforeMs?: number,
  ): Promise<boolean> {
    const expected = this.store.memberIndex(group);
    const groupId = group.definition.id;
    const single = this.store.isSingle(group.definition);
    const claimed: EarlyReport[] = [];
    let complete = beforeMs === undefined;
    const all = await this.store.earlyReports(group);
    for (const early of all.filter((e) => beforeMs === undefined || e.atMs < beforeMs)) {
      const { member } = early.report;
      if (!expected.has(member)) {
        if ((await this.store.claimEarly(groupId, member, 'expire', owner, nowMs)) !== 'claimed') continue;
        await this.deadLetter(early.raw, notExpected(member, groupId));
        await this.store.discardEarly(groupId, member);
        continue;
      }
      const claim = await this.store.claimEarly(groupId, member, 'adopt', owner, nowMs);
      if (claim === 'adopt') complete = false;
      if (claim !== 'claimed') continue;
      if (single) {
        // Count first, then adopt: a Create retried in between still finds the report early (and claimed).
        await this.reportSingle(group, early.report, nowMs, owner, early.atMs, true);
        await this.store.adoptEarly(group, member);
      } else {
        claimed.push(early);
      }
    }
    if (single) return complete;
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
        if (complete) await this.store.markAdopted(groupId);
        await this.progressPaged(group, committed.state, nowMs, owner);
      }
      if (committed.status === 'past-deadline') await this.timeoutGroup(groupId, nowMs, undefined, owner);
      return complete;
    }
    if (complete) await this.store.markAdopted(groupId);
    return complete;
  }

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
      if (attempt >= 2 || !(await this.adoptEarlyReports(group, nowMs, owner))) {
        throw new EarlyAdoptionPendingError(report.group);
      }
      latest = undefined;
    }
  }

  /**
   * An Extend: an open group's deadline becomes the later of its current one and the
   * Extend's first stored time + `ttl`, within the maximum ttl from its creation (`extendedDeadline`).
   * A redelivery finds its first stored time and changes nothing. At or after the deadline it is
   * late (the timeout stands), and after the outcome too.
   */
  async extend(extend: ExtendRequest, nowMs: number, raw: RawRecord): Promise<RecordResult> {
    const owner = ownerOf(raw);
    const state = await this.store.getState(extend.group);
    if (state && state.status !== 'open') return this.lateEvent(state, nowMs, owner);
    const o = raw.origin;
    const origin = o ? `${o.topic}:${o.partition}:${o.offset}` : `local:${nowMs}`;
    const group = await this.store.getGroup(extend.group);
    if (group) return this.extendCreated(group, extend, origin, nowMs, nowMs, owner);
    // Before its group's Create: kept like an early report (several per group, each by its record).
    const kept = await this.store.keepEarlyExtend(
      extend,
      origin,
      raw,
      nowMs,
      this.settings.earlyReportWaitSeconds * 1000,
    );
    this.refuseUnkept(kept, 'Extend', extend.group);
    if (kept === 'created') return this.extend(extend, nowMs, raw);
    // Kept before the Create's write (both write STATE's key): the Create applies it.
    this.observer.count('EarlyReports');
    return { status: 'accepted', action: kept === 'kept' ? 'early' : 'duplicate-report' };
  }

  /**
   * An Extend of a group that exists. It is stored and applied by one conditional write of STATE,
   * which keeps its origin with its first stored time `atMs` (a redelivery finds it there and changes
   * nothing): an Extend is never stored without being in force, so every path that reads STATE's
   * deadline (a report, the sweeper, the TTL handler) honours it. Late when `atMs` is at or after the
   * deadline in force.
   */
  private async extendCreated(
    group: Group,
    extend: ExtendRequest,
    origin: string,
    atMs: number,
    nowMs: number,
    owner: string,
  ): Promise<RecordResult> {
    for (let attempt = 0; ; attempt++) {
      const state = await this.store.getState(extend.group);
      if (state?.status !== 'open') return this.lateEvent(state, nowMs, owner);
      if (state.extendedAt?.[origin] !== undefined) return { status: 'accepted', action: 'extended' };
      const target = extendedDeadline(
        {
          createdMs: group.createdMs,
          deadlineMs: state.deadlineMs,
          maxTtlSeconds: this.settings.maxTtlSeconds,
        },
        { atMs, ttlSeconds: extend.ttlSeconds },
      );
      if (target.late) {
        // Past the deadline in force: the group can only time out (unless that deadline moved meanwhile).
        if ((await this.timeoutGroup(extend.group, nowMs, undefined, owner)) === 'open' && attempt < 3)
          continue;
        return this.lateEvent(undefined, nowMs, owner);
      }
      const moved = await this.store.extendDeadline(
        extend.group,
        origin,
        atMs,
        state.deadlineMs,
        target.deadlineMs,
      );
      if (moved.extended) return { status: 'accepted', action: 'extended' };
      // Another Extend moved the deadline since the read (or the group was decided): judged again.
      if (attempt >= 3)
        throw new InconsistentStateError(`Extend of ${extend.group} kept losing to other writes`);
    }
  }

  /**
   * An early Extend whose group exists: claimed for adoption (an expiry that claimed it first
   * finishes it instead), applied from its first stored time, then kept as that time only.
   */
  private async applyEarlyExtend(
    group: Group,
    early: EarlyExtend,
    nowMs: number,
    owner: string,
    from?: 'expire',
  ): Promise<RecordResult> {
    const groupId = group.definition.id;
    if ((await this.store.claimEarlyExtend(groupId, early.origin, 'adopt', owner, nowMs, from)) !== 'claimed') {
      return late;
    }
    const result = await this.extendCreated(group, early.extend, early.origin, early.atMs, nowMs, owner);
    // Applied: its origin and time now live in STATE.
    await this.store.discardEarlyExtend(groupId, early.origin, true);
    return result;
  }

  /**
   * A Cancel: an open group fails at once (`reason: cancelled`) with what it collected and who is
   * missing. The decision is the same conditional STATE update as a report's, so against the last
   * report the first write wins and the other finds the group decided. At or after the deadline the
   * timeout stands; a decided group's Cancel is late. A redelivered Cancel finds its own decision and
   * is late (its outcome is published again only if its first delivery did not).
   */
  async cancel(cancel: CancelRequest, nowMs: number, raw: RawRecord): Promise<RecordResult> {
    const owner = ownerOf(raw);
    const state = await this.store.getState(cancel.group);
    if (state && state.status !== 'open') return this.lateEvent(state, nowMs, owner);
    const group = await this.store.getGroup(cancel.group);
    if (group) {
      // A Cancel kept before the Create came first: it decides, with its own message, before this one.
      if (state?.hadEarly) await this.earlierCancelFirst(group, raw, nowMs, owner);
      return this.cancelCreated(group, cancel, nowMs, owner);
    }
    // Before its group's Create: kept like an early report (the first Cancel wins).
    const kept = await this.store.keepEarlyCancel(
      cancel,
      raw,
      nowMs,
      this.settings.earlyReportWaitSeconds * 1000,
    );
    this.refuseUnkept(kept, 'Cancel', cancel.group);
    if (kept === 'created') return this.cancel(cancel, nowMs, raw);
    // Kept before the Create's write (both write STATE's key): the Create applies it.
    this.observer.count('EarlyReports');
    return { status: 'accepted', action: kept === 'kept' ? 'early' : 'duplicate-report' };
  }

  /**
   * A larger group's reports kept before its Create count once committed to its pages: a decision
   * (a Cancel, a timeout) that finds them not yet adopted (the Create is adopting them, or died doing
   * so) adopts them first; held by a live adopter, the decision is retried (transient).
   */
  private async ensureAdopted(group: Group, state: GroupState, nowMs: number, owner: string): Promise<void> {
    const groupId = group.definition.id;
    if (this.store.isSingle(group.definition) || !state.hadEarly || state.adopted) return;
    if (this.adopting.has(groupId)) return;
    this.adopting.add(groupId);
    try {
      if (!(await this.adoptEarlyReports(group, nowMs, owner))) throw new EarlyAdoptionPendingError(groupId);
    } finally {
      this.adopting.delete(groupId);
    }
  }

  /**
   * Applies the group's early Cancel (kept before its Create) if it is still waiting, before a later
   * Cancel of the same group is judged: recording order says the early one is first. Held by another
   * live actor (the Create applying it): this record is retried once that one is done.
   */
  private async earlierCancelFirst(
    group: Group,
    raw: RawRecord,
    nowMs: number,
    owner: string,
  ): Promise<void> {
    const early = await this.store.getEarlyCancel(group.definition.id);
    if (!early || ownerOf(early.raw) === ownerOf(raw)) return;
    const applied = await this.applyEarlyCancel(group, early, nowMs, owner);
    if (applied === late && (await this.store.getEarlyCancel(group.definition.id))) {
      throw new EarlyAdoptionPendingError(group.definition.id);
    }
  }

  /**
   * An early Cancel whose group exists: claimed for adoption (an expiry that claimed it first
   * finishes it instead), applied to the group, then deleted.
   */
  private async applyEarlyCancel(
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

  /** A Cancel of a group that exists (see `cancel`). */
  private async cancelCreated(
    group: Group,
    cancel: CancelRequest,
    nowMs: number,
    owner: string,
    retries = 3,
  ): Promise<RecordResult> {
    const state = await this.store.getState(cancel.group);
    if (state && state.status !== 'open') return this.lateEvent(state, nowMs, owner);
    if (!state) {
      // TTL removed the expired group: its timeout is being published; the timeout stands.
      return this.lateEvent(await this.store.getState(cancel.group), nowMs, owner);
    }
    if (nowMs >= state.deadlineMs) {
      // Not due after all (an Extend moved the deadline after the read): the Cancel is judged again.
      if ((await this.timeoutGroup(cancel.group, nowMs, undefined, owner)) === 'open' && retries > 0) {
        return this.cancelCreated(group, cancel, nowMs, owner, retries - 1);
      }
      return this.lateEvent(undefined, nowMs, owner);
    }
    await this.ensureAdopted(group, state, nowMs, owner);
    const won = await this.decide(
      group,
      'cancelled',
      nowMs,
      owner,
      { message: cancel.message },
      undefined,
      state.deadlineMs,
    );
    if (!won) return this.lateEvent(undefined, nowMs, owner);
    return { status: 'accepted', action: 'cancelled' };
  }

  /**
   * A report of a small group (LAYOUT.single): stored and counted by one conditional write of its
   * STATE, whose reply is the group's state after it, so the group is decided without another read.
   * `viaMemberItem`: an early copy of it may be stored; it goes through the member item.
   */
  private async reportSingle(
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
    const recorded = await this.store.recordSingle(group, report, atMs, owner, nowMs, viaMemberItem);
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
  private async progressSingle(
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
  private async progressPaged(group: Group, state: GroupState, nowMs: number, owner: string): Promise<void> {
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

  /**
   * Decides the outcome with the one conditional transition (store.decide), which also gives the
   * decider (`owner`) the publish lease; then publishes it. When another decision won, its decider
   * publishes: this one publishes the stored bytes only if that lease lapsed unpublished.
   */
  private async decide(
    group: Group,
    kind: GroupOutcomeKind,
    nowMs: number,
    owner: string,
    failure?: { entity?: string; error?: string; message?: string },
    removedState?: GroupState,
    /** The deadline in force (STATE's; a guess is corrected by the condition, which holds only under it). */
    deadlineMs: number = removedState?.deadlineMs ?? group.deadlineMs,
    /** The reports, already read (a small group's state after the write that stored the last one). */
    known?: { reports: StoredReport[]; unloadedBytes: number; count?: number; ordered?: true },
  ): Promise<boolean> {
    // At most the outcome limit of results is held in memory; past it the outcome is too large anyway.
    const read =
      known ?? (await this.store.boundedReports(group, this.settings.maxOutcomeBytes, removedState));
    const { reports: members, unloadedBytes } = read;
    // A small group's decision holds only if no report was stored since these were read.
    const reportCount = removedState ? undefined : read.count;
    if (kind === 'success' && isPlain(group.definition) && !allReported(group.definition, members)) {
      // Every member counted, one with an error whose own decision has not happened yet (its delivery
      // failed or is running): the group fails at its first error.
      // The first error in recording order (a larger group's reports come in it).
      const errors = members.filter((r) => r.error !== undefined);
      const first = read.ordered
        ? errors[0]
        : errors.sort((a, b) => a.atMs - b.atMs || a.member.localeCompare(b.member))[0];
      if (!first) {
        throw new InconsistentStateError(
          `group ${group.definition.id} counted complete but a member report is missing`,
        );
      }
      return this.decide(
        group,
        'member-failure',
        nowMs,
        owner,
        { entity: first.member, error: first.error },
        removedState,
        deadlineMs,
        read,
      );
    }
    const { outcome, bytes } = this.outcomeOf(
      group,
      kind,
      nowMs,
      members,
      unloadedBytes,
      failure,
      deadlineMs,
      read.ordered,
    );
    const decision = await this.store.decideOutcome({
      group,
      status: statusOf(outcome.kind),
      mode: removedState ? 'recreate' : kind === 'timeout' ? 'after-deadline' : 'before-deadline',
      nowMs,
      outcome: bytes,
      owner,
      deadlineMs,
      reportCount,
      removed: removedState,
      reports: members,
    });
    const groupId = group.definition.id;
    if (decision.won) {
      await this.publishClaimed(groupId, owner, group.outcomeTopic, bytes);
      this.observer.count(
        outcome.kind === 'success'
          ? 'GroupsSucceeded'
          : kind === 'timeout'
            ? 'GroupsTimedOut'
            : 'GroupsFailed',
      );
      return true;
    }
    // The winner's state, read from the failed condition (no second read).
    const current = decision.current;
    if (!current) return false; // TTL removed the expired group: the stream handler decides its timeout.
    if (current.status !== 'open') {
      await this.ensurePublished(current, nowMs, { owner });
      return false;
    }
    const moved = current.deadlineMs !== deadlineMs;
    const countNow = current.single ? current.single.count : current.pages;
    if (!moved && reportCount !== undefined && countNow !== reportCount) {
      // A report was stored since the outcome was built: build it again from what is stored now.
      return this.decide(group, kind, nowMs, owner, failure, undefined, deadlineMs);
    }
    if (nowMs >= current.deadlineMs) {
      if (kind !== 'timeout' || moved) {
        return this.decide(group, 'timeout', nowMs, owner, undefined, undefined, current.deadlineMs);
      }
    } else if (kind !== 'timeout' && moved) {
      // An Extend moved the deadline since this outcome was built: build it again under the new one.
      return this.decide(group, kind, nowMs, owner, failure, undefined, current.deadlineMs);
    }
    return false;
  }

  /** The outcome's exact bytes from the stored reports (at the deadline they decide the kind). */
  private outcomeOf(
    group: Group,
    kind: GroupOutcomeKind,
    nowMs: number,
    members: StoredReport[],
    unloadedBytes: number,
    failure?: { entity?: string; error?: string; message?: string },
    deadlineMs: number = group.deadlineMs,
    ordered = false,
  ) {
    const common = { definition: group.definition, createdMs: group.createdMs, deadlineMs, nowMs, members };
    const input =
      kind === 'cancelled'
        ? cancelledInput({ ...common, message: failure?.message })
        : isPlain(group.definition)
          ? outcomeInput({ ...common, kind, entity: failure?.entity, error: failure?.error })
          : this.countedInput(group, nowMs, members, deadlineMs, ordered);
    // An extended group's timeout names how long it was open in the end.
    if (deadlineMs !== group.deadlineMs) input.ttlSeconds = Math.round((deadlineMs - group.createdMs) / 1000);
    // A timeout names at least one missing member; otherwise the stored reports decide.
    const outcome = buildBoundedOutcome(input, this.settings.maxOutcomeBytes, unloadedBytes);
    return { outcome, bytes: Buffer.from(outcome.text, 'utf8') };
  }

  /**
   * The outcome of a group with `tolerate` or `quorum`, from its stored reports in the
   * order they were recorded: the first report that crossed a line decides it (`decideGroup`); at
   * the deadline, what was stored before it.
   */
  private countedInput(
    group: Group,
    nowMs: number,
    members: StoredReport[],
    deadlineMs: number,
    ordered: boolean,
  ) {
    const { definition } = group;
    const verdict = decideGroup(
      {
        definition,
        createdMs: group.createdMs,
        maxTtlSeconds: this.settings.maxTtlSeconds,
        deadlineMs,
        // A larger group's reports come in commit order (the recording order); a small group's by stored time.
        events: ordered
          ? members.map((report) => ({ kind: 'report' as const, report }))
          : recordingOrder(
              definition,
              members.map((report) => ({ kind: 'report', report })),
            ),
      },
      nowMs,
    );
    if (verdict.status === 'open') {
      throw new InconsistentStateError(`group ${definition.id} was counted decided but its reports are not`);
    }
    return verdict.outcome;
  }

  /**
   * Publishes an outcome whose publish lease `owner` holds, then records it; a failed publish gives
   * the lease back, so that the retry (by anyone) publishes at once.
   */
  private async publishClaimed(groupId: string, owner: string, topic: string, bytes: Uint8Array) {
    try {
      await this.publisher.publish([{ destination: topic, key: groupId, value: bytes }]);
    } catch (error) {
      await this.store.releasePublish(groupId, owner).catch(() => {});
      throw error;
    }
    await this.store.markPublished(groupId);
  }

  /**
   * Publishes a decided group's stored outcome (identical bytes) unless a copy was published or
   * another process holds a live publish lease (it publishes; if it dies, the lease lapses and the
   * sweeper, which finds every unpublished outcome in the deadline index, publishes). `removed`:
   * the state is gone (TTL removed it unpublished), so no lease can be taken: publish at once.
   */
  async ensurePublished(
    state: GroupState,
    nowMs: number = Date.now(),
    by: { owner?: string; removed?: boolean } = {},
  ): Promise<void> {
    if (state.published || state.status === 'open') return;
    if (!state.outcomeTopic) {
      throw new InconsistentStateError(`decided group ${state.groupId} has no stored outcome`);
    }
    const owner = by.owner ?? ownerOf(undefined);
    const claim = state.publishClaim;
    if (!by.removed) {
      if (claim && claim.untilMs > nowMs && claim.by !== owner) return;
      if (!(await this.store.claimPublish(state.groupId, owner, nowMs))) return;
    }
    const bytes = await this.store.loadOutcome(state);
    if (by.removed) {
      await this.publisher.publish([{ destination: state.outcomeTopic, key: state.groupId, value: bytes }]);
    } else {
      await this.publishClaimed(state.groupId, owner, state.outcomeTopic, bytes);
    }
    this.observer.count('OutcomesRepublished');
  }

  /** A report for a decided (or TTL-removed) group: make sure its outcome went out, then ignore it. */
  private async lateEvent(
    state: GroupState | undefined,
    nowMs: number,
    owner: string,
  ): Promise<RecordResult> {
    if (state) await this.ensurePublished(state, nowMs, { owner });
    this.observer.count('LateReports');
    return late;
  }

  /**
   * Times out an open group whose deadline has passed (sweeper, late report, or the TTL stream
   * handler with the removed state). For a decided group, only makes sure its outcome was published.
   */
  async timeoutGroup(
    groupId: string,
    nowMs: number,
    removedState?: GroupState,
    owner: string = removedState ? 'ttl' : ownerOf(undefined),
  ): Promise<'decided' | 'open' | 'absent'> {
    const state = await this.store.getState(groupId);
    if (state) {
      if (state.status !== 'open') {
        await this.ensurePublished(state, nowMs, { owner });
        return 'decided';
      }
      // Not due under the deadline in force (an Extend moved it): the caller judges its event again.
      if (nowMs < state.deadlineMs) return 'open';
    } else if (!removedState) {
      return 'absent';
    }
    const single = (state ?? removedState)?.single;
    const group = single?.group ?? (await this.store.getGroup(groupId));
    if (!group) throw new InconsistentStateError(`group ${groupId} has a state but no definition`);
    if (state) await this.ensureAdopted(group, state, nowMs, owner);
    const won = await this.decide(
      group,
      'timeout',
      nowMs,
      owner,
      undefined,
      state ? undefined : removedState,
      (state ?? removedState)?.deadlineMs,
      state?.single ? await this.store.singleReports(state.single, this.settings.maxOutcomeBytes) : undefined,
    );
    if (won || removedState) return 'decided';
    const current = await this.store.getState(groupId);
    return current?.status === 'open' && nowMs < current.deadlineMs ? 'open' : 'decided';
  }

  /**
   * Times out many due groups at once (the sweeper), in as few calls as the store allows: the
   * definitions and (for small groups) the reports are read by key in
   * BatchGetItem calls of 100 keys, the decisions run `concurrency` at a time, the outcomes they won
   * go out in one produce, then each is marked published. A group that is not due, or too large to read
   * by key, goes through `timeoutGroup`. Settled per group, in `groupIds` order.
   */
  async timeoutGroups(
    groupIds: readonly string[],
    nowMs: number,
    owner = 'sweeper',
    concurrency = 16,
  ): Promise<PromiseSettledResult<void>[]> {
    // Small groups (LAYOUT.single) keep definition and reports in their state: one BatchGetItem per 100.
    const states = await this.store.getStates(groupIds);
    const larger = groupIds.filter((id) => !states.get(id)?.single);
    // A larger group is timed out alone (its state, then its committed pages).
    const groups = await this.store.getGroups(larger);
    const reports = new Map<string, StoredReport[]>();
    // The due small groups' reports (and member items they may need) in as few calls.
    const dueSingles = [...states.values()].filter(
      (st): st is GroupState & { single: SingleItemGroup } =>
        st.single !== undefined && st.status === 'open' && nowMs >= st.deadlineMs,
    );
    const singleReads = await this.store.singleReportsOf(
      dueSingles.map((st) => st.single),
      this.settings.maxOutcomeBytes,
    );
    const won: { index: number; groupId: string; topic: string; bytes: Buffer; kind: GroupOutcomeKind }[] =
      [];
    const results = await settleAll(groupIds, concurrency, async (groupId, index) => {
      const state = states.get(groupId);
      const single = state?.single;
      if (state && single && state.status !== 'open') return this.ensurePublished(state, nowMs, { owner });
      if (state && single && nowMs < state.deadlineMs) return;
      const group = single?.group ?? groups.get(groupId);
      const batchedRead = singleReads.get(groupId);
      // A group whose reports could not be read with the others (a referenced member item missing) fails alone.
      if (batchedRead instanceof Error) throw batchedRead;
      const read = single
        ? (batchedRead ?? (await this.store.singleReports(single, this.settings.maxOutcomeBytes)))
        : { reports: reports.get(groupId), unloadedBytes: 0, count: undefined };
      const members = read.reports;
      if (!group || !members) {
        await this.timeoutGroup(groupId, nowMs, undefined, owner);
        return;
      }
      const deadlineMs = state && single ? state.deadlineMs : group.deadlineMs;
      const { outcome, bytes } = this.outcomeOf(
        group,
        'timeout',
        nowMs,
        members,
        read.unloadedBytes,
        undefined,
        deadlineMs,
      );
      const decision = await this.store.decideOutcome({
        group,
        status: statusOf(outcome.kind),
        mode: 'after-deadline',
        nowMs,
        outcome: bytes,
        owner,
        deadlineMs,
        reportCount: read.count,
        reports: members,
      });
      if (decision.won) {
        won.push({ index, groupId, topic: group.outcomeTopic, bytes, kind: outcome.kind });
        return;
      }
      const current = decision.current;
      if (current && current.status !== 'open') await this.ensurePublished(current, nowMs, { owner });
      // Extended (its deadline is no longer the Create's), or a report stored meanwhile: decided one by
      // one, under STATE's deadline, from what is stored now.
      else if (
        current &&
        nowMs >= current.deadlineMs &&
        (current.deadlineMs !== deadlineMs || current.single?.count !== read.count)
      ) {
        await this.timeoutGroup(groupId, nowMs, undefined, owner);
      }
    });
    if (won.length === 0) return results;
    const message = (w: (typeof won)[number]) => ({ destination: w.topic, key: w.groupId, value: w.bytes });
    const published = await this.publisher.publish(won.map(message)).then(
      () => settleAll(won, concurrency, (w) => this.store.markPublished(w.groupId)),
      // One destination refusing its outcome fails the whole produce: publish one by one, so that only
      // that group fails (and gives its lease back); the others go out now.
      () => settleAll(won, concurrency, (w) => this.publishClaimed(w.groupId, owner, w.topic, w.bytes)),
    );
    won.forEach((w, i) => {
      const result = published[i];
      if (result?.status === 'rejected') {
        results[w.index] = result;
        return;
      }
      this.observer.count(
        w.kind === 'success' ? 'GroupsSucceeded' : w.kind === 'timeout' ? 'GroupsTimedOut' : 'GroupsFailed',
      );
    });
    return results;
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
      // Claimed by an adoption (running, or one that did not finish): the adopter or its redelivery finishes it.
      if (claim === 'adopt') return late;
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
      // Claimed by the group's Create (running, or one that did not finish): it or its redelivery applies it.
      if (claim === 'adopt') return late;
    }
    const expiring = removedByTtl && early.claim === 'expire';
    const group = expiring ? undefined : await this.store.getGroup(groupId);
    if (group) {
      if (!removedByTtl) return this.applyEarlyCancel(group, early, nowMs, owner, 'expire');
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
      // Claimed by the group's Create (running, or one that did not finish): it or its redelivery applies it.
      if (claim === 'adopt') return late;
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
  private async applyExpired(
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

  private async deadLetter(raw: RawRecord, error: DeadLetterError): Promise<void> {
    await this.publisher.publish([deadLetterMessage(raw, error, this.settings.deadLetterTopic)]);
    this.observer.count('DeadLetters', { reason: error.reason });
  }
}

/**
 * Who takes a publish lease while handling this record: its origin, so that a redelivery of the same
 * record (after a lost reply or a crash) takes back the lease its first delivery took.
 */
/**
 * Who acts: the record being handled (its topic/partition/offset), so that a redelivery of a record
 * whose handler died takes back its own claims and publish lease at once; anything else acts as a
 * fresh holder. Claims and leases name their holder, and no two concurrent actors share one.
 */
function ownerOf(raw: RawRecord | undefined): string {
  const o = raw?.origin;
  return o ? `${o.topic}/${o.partition}/${o.offset}` : `run/${randomUUID()}`;
}

/** The expiry of an early record (sweeper, or TTL): never the same holder as the record's own delivery. */
function expiryOwner(raw: RawRecord, removedByTtl: boolean): string {
  return `${removedByTtl ? 'ttl' : 'expire'}/${ownerOf(raw)}`;
}

const notExpected = (member: string, group: string) =>
  new DeadLetterError(
    DLQ_REASONS.memberNotExpected,
    `member "${member}" is not expected by group "${group}"`,
  );
