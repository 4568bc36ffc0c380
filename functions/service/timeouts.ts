import { InconsistentStateError } from '#core/errors.ts';
import type { Group, GroupState, SingleItemGroup, StoredReport } from '#core/model.ts';
import type { GroupOutcomeKind } from '#core/outcome.ts';
import { statusOf } from '#core/rules.ts';
import type { OutcomeSignature } from '#core/signing.ts';
import { settleAll } from '#shared/batch.ts';

import { Decider, outcomeMessage } from './decider.ts';
import { outcomeOf } from './outcomes.ts';
import { ownerOf } from './records.ts';

export abstract class Timeouts extends Decider {
  /** Adopts a larger group's early reports before its decision (early-events.ts). */
  protected abstract ensureAdopted(
    group: Group,
    state: GroupState,
    nowMs: number,
    owner: string,
  ): Promise<void>;

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
    const found = await this.store.getState(groupId);
    // A small group's Create redelivered after TTL removed its open state started it again: that
    // group is the removed one's duplicate; the removed one is decided (its decision replaces it).
    const state = found && removedState && restartedBy(found, removedState) ? undefined : found;
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
    const won: {
      index: number;
      groupId: string;
      topic: string;
      bytes: Buffer;
      kind: GroupOutcomeKind;
      resolvedMs: number;
      signature: OutcomeSignature | undefined;
    }[] = [];
    const results = await settleAll(groupIds, concurrency, async (groupId, index) => {
      const state = states.get(groupId);
      const single = state?.single;
      if (state && single && state.status !== 'open') return this.ensurePublished(state, nowMs, { owner });
      if (state && single && nowMs < state.deadlineMs) return;
      // Events kept before its Create (an early Cancel may decide it instead): adopted first, alone.
      if (state?.hadEarly && single) {
        await this.timeoutGroup(groupId, nowMs, undefined, owner);
        return;
      }
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
      const { outcome, bytes } = outcomeOf(this.settings, {
        group,
        kind: 'timeout',
        nowMs,
        members,
        unloadedBytes: read.unloadedBytes,
        deadlineMs,
        ordered: false,
      });
      const signature = await this.signatureOf(group, bytes, nowMs);
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
        signature,
      });
      if (decision.won) {
        won.push({
          index,
          groupId,
          topic: group.outcomeTopic,
          bytes,
          kind: outcome.kind,
          resolvedMs: nowMs,
          signature,
        });
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
    const message = (w: (typeof won)[number]) =>
      outcomeMessage(w.topic, w.groupId, w.bytes, w.resolvedMs, w.signature);
    const published = await this.publisher.publish(won.map(message)).then(
      () => settleAll(won, concurrency, (w) => this.store.markPublished(w.groupId)),
      // One destination refusing its outcome fails the whole produce: publish one by one, so that only
      // that group fails (and gives its lease back); the others go out now.
      () =>
        settleAll(won, concurrency, (w) =>
          this.publishClaimed(w.groupId, owner, w.topic, w.bytes, w.resolvedMs, w.signature),
        ),
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
}

/** An open small-group state that a redelivered Create wrote after TTL removed `removed` (same definition). */
function restartedBy(state: GroupState, removed: GroupState): boolean {
  return (
    state.status === 'open' &&
    state.single !== undefined &&
    removed.single !== undefined &&
    state.createdMs >= removed.deadlineMs &&
    state.single.group.defHash === removed.single.group.defHash
  );
}
