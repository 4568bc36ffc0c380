import { isProtected, proofIdentity, verifyCapability } from '#core/capabilities.ts';
import {
  DeadLetterError,
  DLQ_REASONS,
  EarlyAdoptionPendingError,
  InconsistentStateError,
} from '#core/errors.ts';
import {
  type CancelRequest,
  type Decoded,
  decodeValue,
  type ExtendRequest,
  type GroupDefinition,
} from '#core/events.ts';
import { definitionHash, type Group, type RawRecord } from '#core/model.ts';
import { extendedDeadline } from '#core/rules.ts';

import { EarlyAdoption } from './early-events.ts';
import { ownerOf, type RecordResult } from './records.ts';

export type { CollectorSettings, RecordResult } from './records.ts';

/** Dead-letters `unauthenticated` a protected group's record whose proof does not hold (docs/SECURITY.md). */
function authenticate(decoded: Exclude<Decoded, { kind: 'ignored' }>, raw: RawRecord): void {
  const target =
    decoded.kind === 'create'
      ? { groupId: decoded.definition.id, kind: 'create' as const }
      : decoded.kind === 'report'
        ? { groupId: decoded.report.group, kind: 'report' as const, member: decoded.report.member }
        : decoded.kind === 'cancel'
          ? { groupId: decoded.cancel.group, kind: 'cancel' as const }
          : { groupId: decoded.extend.group, kind: 'extend' as const };
  if (!isProtected(target.groupId)) return;
  const refused = verifyCapability({ ...target, value: raw.value ?? new Uint8Array(), headers: raw.headers });
  if (refused) throw new DeadLetterError(DLQ_REASONS.unauthenticated, refused);
}

export class Collector extends EarlyAdoption {
  /** Decodes one record and applies it. Dead letters are published here; transient faults throw. */
  async handleRecord(raw: RawRecord, nowMs: number): Promise<RecordResult> {
    try {
      if (raw.malformed) {
        throw new DeadLetterError(DLQ_REASONS.invalidField, `record not readable: ${raw.malformed}`);
      }
      const decoded = decodeValue(raw.value, this.settings);
      if (decoded.kind === 'ignored') return { status: 'ignored', reason: 'outcome-type' };
      // A protected group's record is checked against its id before anything is read or stored.
      authenticate(decoded, raw);
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
    // One of them held by another live actor: that one finishes it (and what follows it).
    if (hadEarly) await this.adoptEarlyEvents(group, nowMs, owner);
    if (!created.created) {
      // A redelivered Create: finish a publish that an earlier delivery may not have completed.
      const state = await this.store.getState(definition.id);
      if (state) await this.ensurePublished(state, nowMs, { owner });
    }
    return { status: 'accepted', action: created.created ? 'created' : 'duplicate-create' };
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
    // A protected group's Extend is its proof (one per Extend the owner signed): a copy is a duplicate.
    const proven = isProtected(extend.group) ? proofIdentity(raw.headers) : undefined;
    const origin = proven
      ? `proof:${proven}`
      : o
        ? `${o.topic}:${o.partition}:${o.offset}`
        : `local:${nowMs}`;
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
  protected async extendCreated(
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
      // (The group created since the read above: its mark is read again.)
      const marked = state ?? (await this.store.getState(cancel.group));
      if (marked?.hadEarly) await this.earlierCancelFirst(group, raw, nowMs, owner);
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
   * Applies the group's early Cancel (kept before its Create) if it is still waiting, before a later
   * Cancel of the same group is judged: recording order says the early one is first. Held by another
   * live actor (the Create applying it): this record is retried once that one is done.
   */
  protected async earlierCancelFirst(
    group: Group,
    raw: RawRecord,
    nowMs: number,
    owner: string,
  ): Promise<void> {
    const early = await this.store.getEarlyCancel(group.definition.id);
    if (!early || ownerOf(early.raw) === ownerOf(raw)) return;
    // In recording order, after the reports recorded before it and before those after it.
    if (
      !(await this.adoptEarlyEvents(group, nowMs, owner)) ||
      (await this.store.getEarlyCancel(group.definition.id))
    ) {
      throw new EarlyAdoptionPendingError(group.definition.id);
    }
  }

  /**
   * A Cancel of a group that exists (see `cancel`), judged at `atMs`: its own time, or for a Cancel
   * kept before the Create, the group's creation (it was recorded first, so it is in force from the
   * start, whenever its adoption runs).
   */
  protected async cancelCreated(
    group: Group,
    cancel: CancelRequest,
    nowMs: number,
    owner: string,
    atMs: number = nowMs,
    retries = 3,
  ): Promise<RecordResult> {
    const state = await this.store.getState(cancel.group);
    if (state && state.status !== 'open') return this.lateEvent(state, nowMs, owner);
    if (!state) {
      // TTL removed the expired group: its timeout is being published; the timeout stands.
      return this.lateEvent(await this.store.getState(cancel.group), nowMs, owner);
    }
    if (atMs >= state.deadlineMs) {
      // Not due after all (an Extend moved the deadline after the read): the Cancel is judged again.
      if ((await this.timeoutGroup(cancel.group, nowMs, undefined, owner)) === 'open' && retries > 0) {
        return this.cancelCreated(group, cancel, nowMs, owner, atMs, retries - 1);
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
      undefined,
      atMs,
    );
    if (!won) return this.lateEvent(undefined, nowMs, owner);
    return { status: 'accepted', action: 'cancelled' };
  }
}
