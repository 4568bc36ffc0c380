import type { z } from 'zod';
import { FailureOutcomeSchema, SuccessOutcomeSchema } from '../functions/core/events.ts';
import { EVENT_TYPES } from '../functions/shared/config.ts';

/** `EventGroupCollectorSuccess` as published (CONTRACT.md "Outcome events"). */
export type SuccessOutcome = z.infer<typeof SuccessOutcomeSchema>;

/** Why a group failed, when the collector says so (newer collectors); otherwise inferred, see {@link FailureCause}. */
export type FailureReason = 'member-error' | 'timeout' | 'cancelled' | 'outcome-too-large';

/**
 * Why a group failed, as a discriminated union to `switch` on:
 * - `member-error`: the member `entity` reported `error`;
 * - `timeout`: the group's ttl ran out; `missing` never reported;
 * - `other`: any other cause the collector names in `reason` (e.g. `cancelled`, `outcome-too-large`).
 */
export type FailureCause =
  | { kind: 'member-error'; entity: string; error: string }
  | { kind: 'timeout'; missing: string[] }
  | { kind: 'other'; reason: string | undefined; error: string };

/**
 * `EventGroupCollectorFailure` as published, plus `cause`, which the client derives:
 * from `reason` when the collector sends it, otherwise from the fields
 * (`missing` present: a timeout; else `entity` names the failed member).
 */
export type FailureOutcome = z.infer<typeof FailureOutcomeSchema> & {
  /** The collector's own reason, when it sends one. */
  reason?: string;
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
    const parsed = FailureOutcomeSchema.safeParse(json);
    if (!parsed.success) return undefined;
    const rawReason = (json as { reason?: unknown }).reason;
    const reason = typeof rawReason === 'string' ? rawReason : undefined;
    return {
      ...parsed.data,
      ...(reason === undefined ? {} : { reason }),
      cause: failureCause({ ...parsed.data, reason }),
    };
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
  if (reason === 'member-error' && failure.entity !== undefined)
    return { kind: 'member-error', entity: failure.entity, error: failure.error };
  return { kind: 'other', reason, error: failure.error };
}
