import { z } from 'zod';
import { EVENT_TYPES, LIMITS, OUTCOME_TYPES } from '#shared/config.ts';
import { utf8Bytes } from './canonical.ts';
import { DeadLetterError, DLQ_REASONS } from './errors.ts';

/** Input types beyond the Create and the report: the Cancel and the Extend of an open group. */
export const COMMAND_TYPES = {
  cancel: 'EventGroupCollectorCancel',
  extend: 'EventGroupCollectorExtend',
} as const;

/** Limits that a deployment may tighten or relax (README "Limits"). */
export interface DecodeLimits {
  maxTtlSeconds: number;
}

const nonEmpty = z.string().min(1);
/** A Kafka topic name, as the broker accepts it. */
const topicName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/);

export const CreateEventSchema = z.object({
  id: nonEmpty,
  type: z.literal(EVENT_TYPES.create),
  expected: z.array(nonEmpty),
  ttl: z.number().int().positive().optional(),
  payload: z.unknown().optional(),
  replyTo: topicName.optional(),
  /** How many members may report an error while the group still succeeds (0 to n; default 0, or n − quorum). */
  tolerate: z.number().int().nonnegative().optional(),
  /** The group also succeeds as soon as this many members succeeded (1 to n). */
  quorum: z.number().int().positive().optional(),
});

export const EntityDoneEventSchema = z.object({
  id: nonEmpty,
  type: z.literal(EVENT_TYPES.done),
  group: nonEmpty,
  result: z.unknown().optional(),
  error: nonEmpty.optional(),
});

/** Fails an open group at once (reason `cancelled`). */
export const CancelEventSchema = z.object({
  type: z.literal(COMMAND_TYPES.cancel),
  group: nonEmpty,
  message: nonEmpty.optional(),
});

/** Moves an open group's deadline to the later of its current one and the Extend's stored time + `ttl`. */
export const ExtendEventSchema = z.object({
  type: z.literal(COMMAND_TYPES.extend),
  group: nonEmpty,
  ttl: z.number().int().positive(),
});

/** Why a group failed: the closed list of the contract (CONTRACT.md "Outcome events"). */
export const FAILURE_REASONS = ['member-error', 'timeout', 'cancelled', 'outcome-too-large'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

const results = z.record(z.string(), z.unknown());
/** Member id → error message: the errors a group with `tolerate` or `quorum` collected. */
const errors = z.record(z.string(), z.string());
export const SuccessOutcomeSchema = z.object({
  type: z.literal(EVENT_TYPES.success),
  id: z.string(),
  created: z.iso.datetime(),
  resolved: z.iso.datetime(),
  results,
  errors: errors.optional(),
  /** Groups with a `quorum`: the members that had not reported when the quorum was reached. */
  missing: z.array(z.string()).optional(),
  payload: z.unknown().optional(),
});
export const FailureOutcomeSchema = z.object({
  type: z.literal(EVENT_TYPES.failure),
  id: z.string(),
  entity: z.string(),
  error: z.string(),
  /** Absent from outcomes of earlier collector versions. */
  reason: z.enum(FAILURE_REASONS).optional(),
  created: z.iso.datetime(),
  resolved: z.iso.datetime(),
  results,
  errors: errors.optional(),
  missing: z.array(z.string()).optional(),
  payload: z.unknown().optional(),
});

/** JSON Schemas of every event on the bus, generated from the same definitions the code validates with. */
export function jsonSchemas(): Record<string, unknown> {
  return {
    [EVENT_TYPES.create]: z.toJSONSchema(CreateEventSchema),
    [EVENT_TYPES.done]: z.toJSONSchema(EntityDoneEventSchema),
    [COMMAND_TYPES.cancel]: z.toJSONSchema(CancelEventSchema),
    [COMMAND_TYPES.extend]: z.toJSONSchema(ExtendEventSchema),
    [EVENT_TYPES.success]: z.toJSONSchema(SuccessOutcomeSchema),
    [EVENT_TYPES.failure]: z.toJSONSchema(FailureOutcomeSchema),
  };
}

/** A validated group definition; JSON values are kept as JSON text. */
export interface GroupDefinition {
  id: string;
  expected: string[];
  ttlSeconds: number;
  /** `payload` as JSON text (key order as sent), or undefined when the group has none. */
  payload: string | undefined;
  replyTo: string | undefined;
  /**
   * Errors tolerated: present only when above 0, given or derived from `quorum` (n − quorum),
   * so that a plain group's definition, and its hash, are what they were before.
   */
  tolerate?: number;
  /** Successes that decide the group at once; absent for a plain group. */
  quorum?: number;
}

/** A validated member report. */
export interface MemberReport {
  group: string;
  member: string;
  /** `result` as JSON text (key order as sent; `null` when absent). */
  result: string;
  error: string | undefined;
}

/** A validated Cancel: fail the group at once. */
export interface CancelRequest {
  group: string;
  message: string | undefined;
}

/** A validated Extend: the group's deadline becomes at least the Extend's stored time + `ttlSeconds`. */
export interface ExtendRequest {
  group: string;
  ttlSeconds: number;
}

/** Every input the contract defines, the Cancel and the Extend included (see {@link decodeEvent}). */
export type DecodedEvent =
  | { kind: 'create'; definition: GroupDefinition }
  | { kind: 'report'; report: MemberReport }
  | { kind: 'cancel'; cancel: CancelRequest }
  | { kind: 'extend'; extend: ExtendRequest }
  | { kind: 'ignored'; reason: 'outcome-type'; type: string };

/** What the collector acts on (see {@link decodeValue}): every input, the Cancel and the Extend included. */
export type Decoded = DecodedEvent;

const MAX_DEPTH = 64;

/** The exact first bytes of every outcome the collector writes (`buildOutcome` puts `type` first). */
const OWN_OUTCOME_PREFIXES = OUTCOME_TYPES.map((type) => ({
  type,
  bytes: Buffer.from(`{"type":${JSON.stringify(type)},`, 'utf8'),
}));

function ownOutcomeType(value: Uint8Array): string | undefined {
  for (const { type, bytes } of OWN_OUTCOME_PREFIXES) {
    if (
      value.length >= bytes.length &&
      Buffer.from(value.buffer, value.byteOffset, bytes.length).equals(bytes)
    ) {
      return type;
    }
  }
  return undefined;
}
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and validates one record value, as the collector acts on it: every input is
 * validated as {@link decodeEvent} does (same reasons); every input is acted on. Throws DeadLetterError with a stable reason for every permanent fault; never
 * throws anything else.
 */
export function decodeValue(value: Uint8Array | null | undefined, limits: DecodeLimits): Decoded {
  const decoded = decodeEvent(value, limits);
  return decoded;
}

/**
 * Decodes and validates one record value: every input of the contract, the Cancel and
 * Extend and a Create's `tolerate` and `quorum` included. Throws DeadLetterError with a stable
 * reason for every permanent fault; never throws anything else.
 */
export function decodeEvent(value: Uint8Array | null | undefined, limits: DecodeLimits): DecodedEvent {
  if (!value || value.length === 0) {
    throw new DeadLetterError(DLQ_REASONS.emptyValue, 'record has no value');
  }
  // The collector's own outcomes (on the input topic by default) may be larger or deeper than any
  // input: recognised by the prefix the collector writes, before the size and depth checks.
  const own = ownOutcomeType(value);
  if (own) return { kind: 'ignored', reason: 'outcome-type', type: own };
  if (value.length > LIMITS.maxInputBytes) {
    throw new DeadLetterError(
      DLQ_REASONS.valueTooLarge,
      `value of ${value.length} bytes exceeds the limit of ${LIMITS.maxInputBytes} bytes`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(value));
  } catch (cause) {
    throw new DeadLetterError(
      DLQ_REASONS.malformedJson,
      `value is not valid UTF-8 JSON: ${describe(cause)}`,
      {
        cause,
      },
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DeadLetterError(DLQ_REASONS.notAnObject, `value is JSON ${kindOf(parsed)}, not an object`);
  }
  if (depth(parsed, 0) > MAX_DEPTH) {
    throw new DeadLetterError(DLQ_REASONS.invalidField, `value is nested deeper than ${MAX_DEPTH} levels`);
  }
  const type = (parsed as Record<string, unknown>).type;
  if (typeof type !== 'string') {
    throw new DeadLetterError(DLQ_REASONS.invalidField, 'field "type" is missing or not a string');
  }
  if (OUTCOME_TYPES.includes(type)) return { kind: 'ignored', reason: 'outcome-type', type };
  if (type === EVENT_TYPES.create) return { kind: 'create', definition: toDefinition(parsed, limits) };
  if (type === EVENT_TYPES.done) return { kind: 'report', report: toReport(parsed) };
  if (type === COMMAND_TYPES.cancel) return { kind: 'cancel', cancel: toCancel(parsed) };
  if (type === COMMAND_TYPES.extend) return { kind: 'extend', extend: toExtend(parsed, limits) };
  throw new DeadLetterError(DLQ_REASONS.unknownType, `unknown type "${truncate(type)}"`);
}

function toDefinition(value: object, limits: DecodeLimits): GroupDefinition {
  const event = validate(CreateEventSchema, value);
  checkId('id', event.id);
  if (event.expected.length === 0)
    throw new DeadLetterError(DLQ_REASONS.emptyExpected, '"expected" is empty');
  if (event.expected.length > LIMITS.maxMembers) {
    throw new DeadLetterError(
      DLQ_REASONS.tooManyMembers,
      `"expected" has ${event.expected.length} members; the limit is ${LIMITS.maxMembers}`,
    );
  }
  const seen = new Set<string>();
  for (const member of event.expected) {
    checkId('expected member', member);
    if (seen.has(member)) {
      throw new DeadLetterError(
        DLQ_REASONS.duplicateExpected,
        `"expected" lists "${truncate(member)}" twice`,
      );
    }
    seen.add(member);
  }
  const ttlSeconds = event.ttl ?? LIMITS.defaultTtlSeconds;
  if (ttlSeconds > limits.maxTtlSeconds) {
    throw new DeadLetterError(
      DLQ_REASONS.ttlOutOfRange,
      `"ttl" ${ttlSeconds} exceeds the maximum of ${limits.maxTtlSeconds} seconds`,
    );
  }
  const payload = event.payload === undefined ? undefined : JSON.stringify(event.payload);
  if (payload !== undefined && utf8Bytes(payload) > LIMITS.maxPayloadBytes) {
    throw new DeadLetterError(
      DLQ_REASONS.payloadTooLarge,
      `"payload" of ${utf8Bytes(payload)} bytes exceeds the limit of ${LIMITS.maxPayloadBytes} bytes`,
    );
  }
  const { tolerate, quorum } = tolerance(event.expected.length, event.tolerate, event.quorum);
  return {
    id: event.id,
    expected: event.expected,
    ttlSeconds,
    payload,
    replyTo: event.replyTo,
    ...(tolerate > 0 ? { tolerate } : {}),
    ...(quorum === undefined ? {} : { quorum }),
  };
}

/**
 * A Create's `tolerate` and `quorum` against its n members: quorum 1..n; tolerate 0..n, and at most
 * n − quorum with a quorum (more could never fail before the quorum is out of reach). Without
 * `tolerate`, a quorum tolerates n − quorum: the group fails only when the quorum can no longer be reached.
 */
function tolerance(
  members: number,
  given: number | undefined,
  quorum: number | undefined,
): { tolerate: number; quorum: number | undefined } {
  if (quorum !== undefined && quorum > members) {
    throw new DeadLetterError(
      DLQ_REASONS.quorumOutOfRange,
      `"quorum" ${quorum} exceeds the ${members} members of "expected"`,
    );
  }
  const ceiling = quorum === undefined ? members : members - quorum;
  const tolerate = given ?? (quorum === undefined ? 0 : ceiling);
  if (tolerate > ceiling) {
    throw new DeadLetterError(
      DLQ_REASONS.tolerateOutOfRange,
      quorum === undefined
        ? `"tolerate" ${tolerate} exceeds the ${members} members of "expected"`
        : `"tolerate" ${tolerate} exceeds ${ceiling}, the ${members} members of "expected" less "quorum" ${quorum}`,
    );
  }
  return { tolerate, quorum };
}

function toCancel(value: object): CancelRequest {
  const event = validate(CancelEventSchema, value);
  checkId('group', event.group);
  if (event.message !== undefined) checkWellFormed('message', event.message);
  if (event.message !== undefined && utf8Bytes(event.message) > LIMITS.maxErrorBytes) {
    throw new DeadLetterError(
      DLQ_REASONS.messageTooLarge,
      `"message" of ${utf8Bytes(event.message)} bytes exceeds the limit of ${LIMITS.maxErrorBytes} bytes`,
    );
  }
  return { group: event.group, message: event.message };
}

function toExtend(value: object, limits: DecodeLimits): ExtendRequest {
  const event = validate(ExtendEventSchema, value);
  checkId('group', event.group);
  if (event.ttl > limits.maxTtlSeconds) {
    throw new DeadLetterError(
      DLQ_REASONS.ttlOutOfRange,
      `"ttl" ${event.ttl} exceeds the maximum of ${limits.maxTtlSeconds} seconds`,
    );
  }
  return { group: event.group, ttlSeconds: event.ttl };
}

function toReport(value: object): MemberReport {
  const event = validate(EntityDoneEventSchema, value);
  checkId('id', event.id);
  checkId('group', event.group);
  const result = JSON.stringify(event.result === undefined ? null : event.result);
  if (utf8Bytes(result) > LIMITS.maxResultBytes) {
    throw new DeadLetterError(
      DLQ_REASONS.resultTooLarge,
      `"result" of ${utf8Bytes(result)} bytes exceeds the limit of ${LIMITS.maxResultBytes} bytes`,
    );
  }
  if (event.error !== undefined) checkWellFormed('error', event.error);
  if (event.error !== undefined && utf8Bytes(event.error) > LIMITS.maxErrorBytes) {
    throw new DeadLetterError(
      DLQ_REASONS.resultTooLarge,
      `"error" of ${utf8Bytes(event.error)} bytes exceeds the limit of ${LIMITS.maxErrorBytes} bytes`,
    );
  }
  return { group: event.group, member: event.id, result, error: event.error };
}

function validate<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.join('.') || '(root)';
  throw new DeadLetterError(DLQ_REASONS.invalidField, `field "${path}": ${issue?.message ?? 'invalid'}`, {
    cause: parsed.error,
  });
}

function checkId(name: string, id: string): void {
  checkWellFormed(name, id);
  if (utf8Bytes(id) > LIMITS.maxIdBytes) {
    throw new DeadLetterError(
      DLQ_REASONS.idTooLong,
      `${name} of ${utf8Bytes(id)} bytes exceeds the limit of ${LIMITS.maxIdBytes} bytes`,
    );
  }
}

/** DynamoDB stores strings as UTF-8: a lone surrogate (valid in JSON, not in UTF-8) would be refused on every retry. */
function checkWellFormed(name: string, text: string): void {
  if (!(text as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw new DeadLetterError(
      DLQ_REASONS.invalidField,
      `${name} is not well-formed Unicode (lone surrogate)`,
    );
  }
}

function depth(value: unknown, level: number): number {
  if (level > MAX_DEPTH || value === null || typeof value !== 'object') return level;
  let max = level;
  for (const child of Object.values(value)) max = Math.max(max, depth(child, level + 1));
  return max;
}

const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const truncate = (s: string) => (s.length > 80 ? `${s.slice(0, 80)}…` : s);
const describe = (e: unknown) => (e instanceof Error ? e.message : String(e));
