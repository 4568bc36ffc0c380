import { EVENT_TYPES } from '#shared/config.ts';
import { utf8Bytes } from './canonical.ts';
import type { FailureReason } from './events.ts';

/** The outcome kinds the collector decided before `reason` existed (the service maps each to a status). */
export type OutcomeKind = 'success' | 'member-failure' | 'timeout';

/** Every outcome kind, the cancel included. */
export type GroupOutcomeKind = OutcomeKind | 'cancelled';

/** The `reason` a failure of each kind carries (CONTRACT.md "Outcome events"). */
export const REASON_OF = {
  'member-failure': 'member-error',
  timeout: 'timeout',
  cancelled: 'cancelled',
} as const satisfies Record<Exclude<GroupOutcomeKind, 'success'>, FailureReason>;

export interface OutcomeInput<K extends GroupOutcomeKind = OutcomeKind> {
  kind: K;
  groupId: string;
  createdMs: number;
  resolvedMs: number;
  /**
   * Members' results in `expected` order, each as stored JSON text. A success lists the members that
   * succeeded; a failure every member stored, a failed one as `null`.
   */
  results: [member: string, resultJson: string][];
  /** The group's payload as stored JSON text, or undefined when it has none. */
  payload: string | undefined;
  /** member-failure: the failing member and its error; cancelled: the error ("Cancelled…"). */
  entity?: string;
  error?: string;
  /**
   * Who had not reported: written always on a timeout (today's format) and a cancel, on a success
   * when given (a quorum), never on a member failure.
   */
  missing?: string[];
  /** ttl for the timeout message. */
  ttlSeconds?: number;
  /** Member → error message in `expected` order (groups with `tolerate` or `quorum`); written when not empty. */
  errors?: [member: string, error: string][];
  /**
   * True: failures carry `reason` (rules.ts `decideGroup` sets it). Absent: the bytes of
   * the plain outcome, for the callers not yet moved to `decideGroup`.
   */
  reasons?: boolean;
}

export const timeoutMessage = (ttlSeconds: number) => `Operation timed out after ${ttlSeconds} seconds`;

/** The error of a cancelled group: "Cancelled", and the Cancel's message when it has one. */
export const cancelledMessage = (message: string | undefined) =>
  message === undefined ? 'Cancelled' : `Cancelled: ${message}`;

export const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The outcome event's exact text. Built as a string, in a fixed key order, with
 * results spliced in as stored JSON text: the same input always gives the
 * same bytes, and no member id (even `__proto__`) ever touches an object prototype.
 * Key order: type, id, [entity, error, [reason]], created, resolved, results, [errors], [missing], [payload].
 */
export function buildOutcome(input: OutcomeInput<GroupOutcomeKind>): string {
  return render(input, undefined);
}

function render(input: OutcomeInput<GroupOutcomeKind>, tooLarge: string | undefined): string {
  const parts: string[] = [];
  const field = (name: string, json: string) => parts.push(`${JSON.stringify(name)}:${json}`);
  const pairs = (list: [string, string][], value: (v: string) => string) =>
    `{${list.map(([m, v]) => `${JSON.stringify(m)}:${value(v)}`).join(',')}}`;
  const { kind } = input;
  field('type', JSON.stringify(kind === 'success' ? EVENT_TYPES.success : EVENT_TYPES.failure));
  field('id', JSON.stringify(input.groupId));
  if (kind === 'member-failure') {
    field('entity', JSON.stringify(input.entity ?? ''));
    field('error', JSON.stringify(input.error ?? ''));
  } else if (kind === 'timeout') {
    field('entity', JSON.stringify(input.groupId));
    field('error', JSON.stringify(timeoutMessage(input.ttlSeconds ?? 0)));
  } else if (kind === 'cancelled') {
    field('entity', JSON.stringify(input.groupId));
    field('error', JSON.stringify(input.error ?? cancelledMessage(undefined)));
  }
  if (kind !== 'success' && (input.reasons || kind === 'cancelled')) {
    field('reason', JSON.stringify(tooLarge ?? REASON_OF[kind]));
  }
  field('created', JSON.stringify(iso(input.createdMs)));
  field('resolved', JSON.stringify(iso(input.resolvedMs)));
  field(
    'results',
    pairs(input.results, (r) => r),
  );
  if (input.errors && input.errors.length > 0)
    field(
      'errors',
      pairs(input.errors, (e) => JSON.stringify(e)),
    );
  const missing =
    kind === 'timeout' || kind === 'cancelled'
      ? (input.missing ?? [])
      : kind === 'success'
        ? input.missing
        : undefined;
  if (missing !== undefined) field('missing', JSON.stringify(missing));
  if (input.payload !== undefined) field('payload', input.payload);
  return `{${parts.join(',')}}`;
}

/**
 * Builds the outcome and, when it would exceed the largest message the topic
 * accepts, replaces it with a failure that says so (CONTRACT.md "Limits"):
 * never publish something the broker will reject. The replacement keeps the
 * payload and nothing collected (no results, errors or missing); with `reasons`
 * its reason is `outcome-too-large`.
 */
export function buildBoundedOutcome<K extends GroupOutcomeKind>(
  input: OutcomeInput<K>,
  maxBytes: number,
  /**
   * Bytes of results the caller did not load (they stand as `null` in `input`): counted in the
   * size, so that a group far over the limit is decided "too large" without holding its results.
   */
  unloadedBytes = 0,
): { text: string; kind: K | 'member-failure' } {
  const text = buildOutcome(input);
  const size = utf8Bytes(text) + unloadedBytes;
  if (size <= maxBytes && unloadedBytes === 0) return { text, kind: input.kind };
  const reasons = input.reasons || input.kind === 'cancelled';
  const tooLarge = render(
    {
      groupId: input.groupId,
      createdMs: input.createdMs,
      resolvedMs: input.resolvedMs,
      payload: input.payload,
      kind: 'member-failure',
      entity: input.groupId,
      error: `Outcome too large: ${size} bytes exceed the limit of ${maxBytes} bytes`,
      results: [],
      reasons,
    },
    'outcome-too-large',
  );
  return { text: tooLarge, kind: 'member-failure' };
}
