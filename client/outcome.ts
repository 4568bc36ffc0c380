import { z } from 'zod';
import { FailureOutcomeSchema, SuccessOutcomeSchema } from '../functions/core/events.ts';
import { EVENT_TYPES } from '../functions/shared/config.ts';

/**
 * `EventGroupCollectorSuccess` as published (CONTRACT.md "Outcome events"): `errors` when a group
 * with `tolerate` or `quorum` collected some, `missing` when a quorum decided it.
 */
export type SuccessOutcome = z.infer<typeof SuccessOutcomeSchema>;

/**
 * Why a group failed, when the collector says so (the contract's closed list); otherwise inferred,
 * see {@link FailureCause}.
 */
export type { FailureReason } from '../functions/core/events.ts';

/**
 * The published failure schema, except that `reason` may be any string: a reason a newer collector
 * adds must not make this client drop the outcome (it becomes `cause.kind: 'other'`).
 */
const ReadFailureSchema = FailureOutcomeSchema.extend({ reason: z.string().optional() });

/**
 * Why a group failed, as a discriminated union to `switch` on:
 * - `member-error`: the member `entity` reported `error`;
 * - `timeout`: the group's ttl ran out; `missing` never reported;
 * - `cancelled`: an EventGroupCollectorCancel failed it; `error` is "Cancelled" and its message,
 *   `missing` had not reported;
 * - `other`: any other cause the collector names in `reason` (e.g. `outcome-too-large`).
 */
export type FailureCause =
  | { kind: 'member-error'; entity: string; error: string }
  | { kind: 'timeout'; missing: string[] }
  | { kind: 'cancelled'; error: string; missing: string[] }
  | { kind: 'other'; reason: string | undefined; error: string };

/**
 * `EventGroupCollectorFailure` as published, plus `cause`, which the client derives:
 * from `reason` when the collector sends it, otherwise from the fields
 * (`missing` present: a timeout; else `entity` names the failed member).
 */
export type FailureOutcome = z.infer<typeof ReadFailureSchema> & {
  cause: FailureCause;
};

/** A group's one outcome: discriminate on `type`, then on `cause.kind` for failures. */
export type Outcome = SuccessOutcome | FailureOutcome;

const SUCCESS_MARK = `"${EVENT_TYPES.success}"`;
const FAILURE_MARK = `"${EVENT_TYPES.failure}"`;

/** Parses an outcome event; undefined for anything else on the topic (inputs share it by default). */
export function parseOutcome(value: Buffer | Uint8Array | string | null | undefined): Outcome | undefined {
  if (value === null || value === undefined) return undefined;
  const text = typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
  // Cheap test first: on the shared topic most records are inputs.
  if (!text.includes(SUCCESS_MARK) && !text.includes(FAILURE_MARK)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (json === null || typeof json !== 'object') return undefined;
  const type = (json as { type?: unknown }).type;
  if (type === EVENT_TYPES.success) {
    const parsed = SuccessOutcomeSchema.safeParse(json);
    return parsed.success ? parsed.data : undefined;
  }
  if (type === EVENT_TYPES.failure) {
    const parsed = ReadFailureSchema.safeParse(json);
    if (!parsed.success) return undefined;
    return { ...parsed.data, cause: failureCause(parsed.data) };
  }
  return undefined;
}

/** Classifies a failure: the collector's `reason` when present, else today's fields. */
export function failureCause(failure: {
  entity?: string;
  error: string;
  missing?: string[] | undefined;
  reason?: string | undefined;
}): FailureCause {
  const reason =
    failure.reason ??
    (failure.missing ? 'timeout' : failure.entity !== undefined ? 'member-error' : undefined);
  if (reason === 'timeout') return { kind: 'timeout', missing: failure.missing ?? [] };
  if (reason === 'cancelled')
    return { kind: 'cancelled', error: failure.error, missing: failure.missing ?? [] };
  if (reason === 'member-error' && failure.entity !== undefined)
    return { kind: 'member-error', entity: failure.entity, error: failure.error };
  return { kind: 'other', reason, error: failure.error };
}
