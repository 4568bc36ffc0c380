/**
 * A group's outcome bytes: built from its stored reports when it is decided, and built again, the
 * same bytes, when a larger group's outcome is published later (its committed pages are immutable
 * once decided, and STATE keeps the rest of what it was built from: `DecisionInput`).
 */
import { InconsistentStateError } from '#core/errors.ts';
import type { Group, GroupState, StoredReport } from '#core/model.ts';
import { buildBoundedOutcome, type GroupOutcomeKind } from '#core/outcome.ts';
import { cancelledInput, decideGroup, isPlain, outcomeInput, recordingOrder } from '#core/rules.ts';
import type { GroupStore } from '#store/group-store.ts';

/** The settings an outcome depends on. */
export interface OutcomeSettings {
  maxOutcomeBytes: number;
  maxTtlSeconds: number;
}

export interface OutcomeArgs {
  group: Group;
  kind: GroupOutcomeKind;
  /** The decision's time (`resolved`). */
  nowMs: number;
  /** The stored reports; a result not loaded stands as `null` with its size in `unloaded`. */
  members: StoredReport[];
  /** Bytes of results not loaded (all of them: those the outcome holds are counted). */
  unloadedBytes: number;
  failure?: { entity?: string; error?: string; message?: string };
  /** The deadline in force when decided. */
  deadlineMs: number;
  /** Whether `members` come in recording order (a larger group's commit order). */
  ordered: boolean;
}

/** The outcome's exact bytes from the stored reports (at the deadline they decide the kind). */
export function outcomeOf(settings: OutcomeSettings, args: OutcomeArgs) {
  const { group, kind, nowMs, members, failure, deadlineMs, ordered } = args;
  const common = { definition: group.definition, createdMs: group.createdMs, deadlineMs, nowMs, members };
  const input =
    kind === 'cancelled'
      ? cancelledInput({ ...common, message: failure?.message })
      : isPlain(group.definition)
        ? outcomeInput({ ...common, kind, entity: failure?.entity, error: failure?.error })
        : countedInput(settings, group, nowMs, members, deadlineMs, ordered);
  // An extended group's timeout names how long it was open in the end.
  if (deadlineMs !== group.deadlineMs) input.ttlSeconds = Math.round((deadlineMs - group.createdMs) / 1000);
  // The results not loaded count in its size only if the outcome holds them (a quorum leaves out
  // the reports stored after the one that decided it; they come last in recording order).
  const included = new Set(input.results.map(([member]) => member));
  const unloadedBytes = members.reduce(
    (sum, r) => sum + (r.unloaded !== undefined && included.has(r.member) ? r.unloaded : 0),
    0,
  );
  // A timeout names at least one missing member; otherwise the stored reports decide.
  const outcome = buildBoundedOutcome(input, settings.maxOutcomeBytes, unloadedBytes);
  return { outcome, bytes: Buffer.from(outcome.text, 'utf8') };
}

/**
 * The outcome of a group with `tolerate` or `quorum`, from its stored reports in the order they were
 * recorded: the first report that crossed a line decides it (`decideGroup`); at the deadline, what
 * was stored before it.
 */
function countedInput(
  settings: OutcomeSettings,
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
      maxTtlSeconds: settings.maxTtlSeconds,
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
 * A decided group's outcome bytes: stored (in STATE or OUT items), or, for a larger group, built again
 * from the pages its decision counted, with what STATE kept of the rest (the same bytes).
 */
export async function storedOutcome(
  store: GroupStore,
  state: GroupState,
  settings: OutcomeSettings,
): Promise<Uint8Array> {
  const input = state.outcomeInput;
  if (!input) return store.loadOutcome(state);
  const group = await store.getGroup(state.groupId);
  if (!group || state.resolvedMs === undefined) {
    throw new InconsistentStateError(`decided group ${state.groupId} has no definition to build its outcome`);
  }
  const read = await store.pagedReports(group, state, input.budget);
  const { kind, budget, ...failure } = input;
  return outcomeOf(
    { maxOutcomeBytes: budget, maxTtlSeconds: settings.maxTtlSeconds },
    {
      group,
      kind,
      nowMs: state.resolvedMs,
      members: read.reports,
      unloadedBytes: read.unloadedBytes,
      failure,
      deadlineMs: state.deadlineMs,
      ordered: true,
    },
  ).bytes;
}
