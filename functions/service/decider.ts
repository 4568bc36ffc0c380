import { type DeadLetterError, InconsistentStateError } from '#core/errors.ts';
import type { Group, GroupState, RawRecord, StoredReport } from '#core/model.ts';
import type { GroupOutcomeKind } from '#core/outcome.ts';
import { allReported, isPlain, policyOf, statusOf, verdictOfCounts } from '#core/rules.ts';
import { type OutcomeSignature, signatureHeaders } from '#core/signing.ts';
import type { OutgoingMessage, Publisher } from '#publish/publisher.ts';
import type { OutcomeSigner } from '#publish/signing.ts';
import type { Observer } from '#shared/metrics.ts';
import { silentObserver } from '#shared/metrics.ts';
import type { GroupStore } from '#store/group-store.ts';
import { deadLetterMessage } from './dead-letters.ts';
import { outcomeOf, storedOutcome } from './outcomes.ts';

import { type CollectorSettings, late, ownerOf, type RecordResult } from './records.ts';

export abstract class Decider {
  /** Larger groups whose early reports this process is adopting before a decision (no nesting). */
  protected readonly adopting = new Set<string>();

  constructor(
    protected readonly store: GroupStore,
    protected readonly publisher: Publisher,
    protected readonly settings: CollectorSettings,
    protected readonly observer: Observer = silentObserver,
    /** Signs each outcome when it is decided (docs/SECURITY.md); none: outcomes are stored unsigned. */
    protected readonly signer?: OutcomeSigner,
  ) {}

  /**
   * Decides the outcome with the one conditional transition (store.decide), which also gives the
   * decider (`owner`) the publish lease; then publishes it. When another decision won, its decider
   * publishes: this one publishes the stored bytes only if that lease lapsed unpublished.
   */
  protected async decide(
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
    /** When the deciding event happened, if before now (an early Cancel: the group's creation). */
    atMs?: number,
  ): Promise<boolean> {
    // At most the outcome limit of results is held in memory; past it the outcome is too large anyway.
    const read =
      known ?? (await this.store.boundedReports(group, this.settings.maxOutcomeBytes, removedState));
    const { reports: members, unloadedBytes } = read;
    // A small group's decision holds only if no report was stored since these were read.
    const reportCount = removedState ? undefined : read.count;
    if (kind === 'cancelled') {
      // Reports recorded before the Cancel that already decided the group (their own decision has
      // not happened yet: its delivery failed or is running) decide it; the Cancel is late.
      const settled = settledBy(group.definition, members, read.ordered === true);
      if (settled) {
        await this.decide(group, settled.kind, nowMs, owner, settled.failure, removedState, deadlineMs, read);
        return false;
      }
    }
    if (kind === 'success' && isPlain(group.definition) && !allReported(group.definition, members)) {
      // Every member counted, one with an error whose own decision has not happened yet (its delivery
      // failed or is running): the group fails at its first error.
      // The first error in recording order (a larger group's reports come in it).
      const first = firstError(members, read.ordered === true);
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
    const { outcome, bytes } = outcomeOf(this.settings, {
      group,
      kind,
      nowMs,
      members,
      unloadedBytes,
      failure,
      deadlineMs,
      ordered: read.ordered === true,
    });
    const groupId = group.definition.id;
    const signature = await this.signatureOf(group, bytes, nowMs);
    const decision = await this.store.decideOutcome({
      group,
      status: statusOf(outcome.kind),
      mode: removedState ? 'recreate' : kind === 'timeout' ? 'after-deadline' : 'before-deadline',
      nowMs,
      atMs,
      outcome: bytes,
      owner,
      deadlineMs,
      reportCount,
      removed: removedState,
      reports: members,
      // A larger group's outcome is built again from its committed pages when published: not stored.
      input: this.store.isSingle(group.definition)
        ? undefined
        : { kind, ...failure, budget: this.settings.maxOutcomeBytes },
      signature,
    });
    if (decision.won) {
      await this.publishClaimed(groupId, owner, group.outcomeTopic, bytes, nowMs, signature);
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
    const countNow = current.single ? current.single.count : current.reported;
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

  /**
   * The signature of an outcome about to be decided at `resolvedMs`, stored by the decision's write
   * (the loser of a race publishes the winner's, which the failed condition returns).
   */
  protected signatureOf(
    group: Group,
    bytes: Uint8Array,
    resolvedMs: number,
  ): Promise<OutcomeSignature | undefined> {
    if (!this.signer) return Promise.resolve(undefined);
    return this.signer.sign({
      topic: group.outcomeTopic,
      key: group.definition.id,
      value: bytes,
      resolvedMs,
    });
  }

  /**
   * Publishes an outcome whose publish lease `owner` holds, then records it; a failed publish gives
   * the lease back, so that the retry (by anyone) publishes at once.
   */
  protected async publishClaimed(
    groupId: string,
    owner: string,
    topic: string,
    bytes: Uint8Array,
    resolvedMs: number | undefined,
    signature: OutcomeSignature | undefined,
  ) {
    try {
      await this.publisher.publish([outcomeMessage(topic, groupId, bytes, resolvedMs, signature)]);
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
    const bytes = await storedOutcome(this.store, state, this.settings);
    if (by.removed) {
      await this.publisher.publish([
        outcomeMessage(state.outcomeTopic, state.groupId, bytes, state.resolvedMs, state.signature),
      ]);
    } else {
      await this.publishClaimed(
        state.groupId,
        owner,
        state.outcomeTopic,
        bytes,
        state.resolvedMs,
        state.signature,
      );
    }
    this.observer.count('OutcomesRepublished');
  }

  /** A report for a decided (or TTL-removed) group: make sure its outcome went out, then ignore it. */
  protected async lateEvent(
    state: GroupState | undefined,
    nowMs: number,
    owner: string,
  ): Promise<RecordResult> {
    if (state) await this.ensurePublished(state, nowMs, { owner });
    this.observer.count('LateReports');
    return late;
  }

  protected async deadLetter(raw: RawRecord, error: DeadLetterError): Promise<void> {
    await this.publisher.publish([deadLetterMessage(raw, error, this.settings.deadLetterTopic)]);
    this.observer.count('DeadLetters', { reason: error.reason });
  }
}

/**
 * An outcome to publish, with the signature its decision stored as its headers (identical on every
 * copy); without one (decided while signing was off), marked so that a signing publisher signs it
 * by its decision's time.
 */
export function outcomeMessage(
  topic: string,
  groupId: string,
  bytes: Uint8Array,
  resolvedMs: number | undefined,
  signature: OutcomeSignature | undefined,
): OutgoingMessage {
  return {
    destination: topic,
    key: groupId,
    value: bytes,
    ...(signature ? { headers: signatureHeaders(signature) } : {}),
    outcome: signature ? { resolvedMs, signature } : { resolvedMs },
  };
}

/**
 * The outcome the stored reports reached on their own, if any: a plain group's first error (in
 * recording order) or every member reported; a tolerate/quorum line crossed.
 */
function settledBy(
  definition: Group['definition'],
  members: StoredReport[],
  ordered: boolean,
): { kind: 'success' | 'member-failure'; failure?: { entity: string; error?: string } } | undefined {
  const failed = members.filter((r) => r.error !== undefined);
  if (isPlain(definition)) {
    const first = firstError(members, ordered);
    if (first) return { kind: 'member-failure', failure: { entity: first.member, error: first.error } };
    return allReported(definition, members) ? { kind: 'success' } : undefined;
  }
  const verdict = verdictOfCounts(policyOf(definition), {
    succeeded: members.length - failed.length,
    failed: failed.length,
  });
  if (verdict === 'open') return undefined;
  return { kind: verdict === 'too-many-errors' ? 'member-failure' : 'success' };
}

/** A plain group's first error in recording order (a larger group's reports come in it; a small group's by stored time). */
export function firstError(members: StoredReport[], ordered: boolean): StoredReport | undefined {
  const failed = members.filter((r) => r.error !== undefined);
  return ordered ? failed[0] : failed.sort((a, b) => a.atMs - b.atMs || a.member.localeCompare(b.member))[0];
}
