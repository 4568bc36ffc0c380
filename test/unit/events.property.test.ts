import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, utf8Bytes } from '#core/canonical.ts';
import { DeadLetterError, DLQ_REASONS } from '#core/errors.ts';
import { COMMAND_TYPES, type Decoded, type DecodedEvent, decodeEvent, decodeValue } from '#core/events.ts';
import { EVENT_TYPES, LIMITS } from '#shared/config.ts';

const limits = { maxTtlSeconds: LIMITS.maxTtlSeconds };
const reasons: string[] = Object.values(DLQ_REASONS);
const encode = (text: string) => new TextEncoder().encode(text);

/** Decodes, turning a DeadLetterError into a value; anything else thrown escapes and fails the property. */
function outcomeOf(value: Uint8Array): Decoded | DeadLetterError {
  try {
    return decodeValue(value, limits);
  } catch (error) {
    if (error instanceof DeadLetterError) return error;
    throw error;
  }
}

/** Decoding either succeeds or throws a DeadLetterError with a stable reason and a message. */
function expectTotal(value: Uint8Array): Decoded | DeadLetterError {
  const result = outcomeOf(value);
  if (result instanceof DeadLetterError) {
    expect(reasons).toContain(result.reason);
    expect(result.message.length).toBeGreaterThan(0);
  } else {
    expect(['create', 'report', 'ignored']).toContain(result.kind);
  }
  return result;
}

/** A JSON value as it arrives: after a trip through JSON text (so -0 is 0, and no undefined). */
const roundTrip = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** Objects whose keys include the ones that touch prototypes in careless code. */
const trickyObject = fc.dictionary(
  fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'type', 'id'), fc.string()),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 4 },
);
const jsonPayload = fc.oneof(fc.jsonValue({ maxDepth: 4 }), trickyObject);

/** An id within the limits: non-empty, well-formed, at most 256 UTF-8 bytes. */
const id = fc.oneof(
  fc.uuid(),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', 'a', 'é'.repeat(128)),
);
const validId = id.filter((s) => s.length > 0 && utf8Bytes(s) <= LIMITS.maxIdBytes);

const validCreate = fc.record(
  {
    id: validId,
    type: fc.constant(EVENT_TYPES.create),
    expected: fc.uniqueArray(validId, { minLength: 1, maxLength: 20 }),
    ttl: fc.integer({ min: 1, max: LIMITS.maxTtlSeconds }),
    payload: jsonPayload,
    replyTo: fc.stringMatching(/^[a-zA-Z0-9._-]{1,40}$/),
  },
  { requiredKeys: ['id', 'type', 'expected'] },
);

const validDone = fc.record(
  {
    id: validId,
    type: fc.constant(EVENT_TYPES.done),
    group: validId,
    result: jsonPayload,
    error: fc.string({ minLength: 1, maxLength: 40 }),
  },
  { requiredKeys: ['id', 'type', 'group'] },
);

describe('decodeValue never throws anything but a DeadLetterError', () => {
  it('for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        // Act / Assess
        expectTotal(bytes);
      }),
      { numRuns: 2_000 },
    );
  });

  it('for arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        // Prepare
        const bytes = encode(JSON.stringify(value));

        // Act
        const result = expectTotal(bytes);

        // Assess: anything but an object is rejected as such
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          expect(result).toBeInstanceOf(DeadLetterError);
          expect((result as DeadLetterError).reason).toBe(DLQ_REASONS.notAnObject);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('for arbitrary objects, with and without an event type', () => {
    fc.assert(
      fc.property(
        fc.object({ maxDepth: 3 }),
        fc.constantFrom(undefined, ...Object.values(EVENT_TYPES), 'Other'),
        (object, type) => {
          // Prepare
          const value = type === undefined ? object : { ...object, type };

          // Act / Assess
          expectTotal(encode(JSON.stringify(value)));
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('for arbitrary strings, including lone surrogates and control characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        // Act / Assess
        expectTotal(encode(text));
      }),
      { numRuns: 1_000 },
    );
  });

  it('for valid events with one field removed, replaced by any JSON value, or an extra field added', () => {
    const field = fc.constantFrom(
      'id',
      'type',
      'expected',
      'ttl',
      'payload',
      'replyTo',
      'group',
      'result',
      'error',
    );
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('delete' as const), field }),
      fc.record({ op: fc.constant('set' as const), field, value: fc.jsonValue({ maxDepth: 3 }) }),
      fc.record({
        op: fc.constant('set' as const),
        field: fc.string(),
        value: fc.jsonValue({ maxDepth: 2 }),
      }),
    );
    fc.assert(
      fc.property(
        fc.oneof(validCreate, validDone),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        (event, ops) => {
          // Prepare
          const value: Record<string, unknown> = { ...event };
          for (const op of ops) {
            if (op.op === 'delete') delete value[op.field];
            else
              Object.defineProperty(value, op.field, {
                value: op.value,
                enumerable: true,
                writable: true,
                configurable: true,
              });
          }

          // Act / Assess
          expectTotal(encode(JSON.stringify(value)));
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('for valid events with their bytes truncated, overwritten or spliced', () => {
    const byteMutation = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom('truncate', 'overwrite', 'insert', 'delete'),
      byte: fc.integer({ min: 0, max: 255 }),
    });
    fc.assert(
      fc.property(
        fc.oneof(validCreate, validDone),
        fc.array(byteMutation, { minLength: 1, maxLength: 4 }),
        (event, ops) => {
          // Prepare
          let bytes = [...encode(JSON.stringify(event))];
          for (const op of ops) {
            const at = op.at % (bytes.length + 1);
            if (op.kind === 'truncate') bytes = bytes.slice(0, at);
            else if (op.kind === 'overwrite') bytes[at] = op.byte;
            else if (op.kind === 'insert') bytes.splice(at, 0, op.byte);
            else bytes.splice(at, 1);
          }

          // Act / Assess
          expectTotal(Uint8Array.from(bytes));
        },
      ),
      { numRuns: 1_000 },
    );
  });
});

describe('valid events always decode, to what was sent', () => {
  it('a valid Create decodes to its definition', () => {
    fc.assert(
      fc.property(validCreate, (event) => {
        // Prepare
        const bytes = encode(JSON.stringify(event));

        // Act
        const decoded = decodeValue(bytes, limits);

        // Assess
        expect(decoded.kind).toBe('create');
        if (decoded.kind !== 'create') return;
        const { definition } = decoded;
        expect(definition.id).toBe(event.id);
        expect(definition.expected).toEqual(event.expected);
        expect(definition.ttlSeconds).toBe(event.ttl ?? LIMITS.defaultTtlSeconds);
        expect(definition.replyTo).toBe(event.replyTo);
        if (event.payload === undefined) expect(definition.payload).toBeUndefined();
        else
          expect(canonicalJson(JSON.parse(definition.payload ?? ''))).toBe(
            canonicalJson(roundTrip(event.payload)),
          );
      }),
      { numRuns: 500 },
    );
  });

  it('a valid EntityDone decodes to its report; an absent result is null', () => {
    fc.assert(
      fc.property(validDone, (event) => {
        // Prepare
        const bytes = encode(JSON.stringify(event));

        // Act
        const decoded = decodeValue(bytes, limits);

        // Assess
        expect(decoded.kind).toBe('report');
        if (decoded.kind !== 'report') return;
        const { report } = decoded;
        expect(report.group).toBe(event.group);
        expect(report.member).toBe(event.id);
        expect(report.error).toBe(event.error);
        expect(canonicalJson(JSON.parse(report.result))).toBe(canonicalJson(roundTrip(event.result ?? null)));
      }),
      { numRuns: 500 },
    );
  });

  it('whitespace around and inside the JSON text changes nothing', () => {
    fc.assert(
      fc.property(fc.oneof(validCreate, validDone), fc.constantFrom(0, 1, 2, '\t'), (event, indent) => {
        // Prepare
        const compact = encode(JSON.stringify(event));
        const spaced = encode(`\n ${JSON.stringify(event, null, indent)}\r\n`);

        // Act / Assess
        expect(decodeValue(spaced, limits)).toEqual(decodeValue(compact, limits));
      }),
      { numRuns: 300 },
    );
  });

  it('outcome events are ignored whatever else they carry', () => {
    fc.assert(
      fc.property(fc.constantFrom(EVENT_TYPES.success, EVENT_TYPES.failure), trickyObject, (type, rest) => {
        // Prepare
        const bytes = encode(JSON.stringify({ ...roundTripObject(rest), type }));

        // Act
        const decoded = decodeValue(bytes, limits);

        // Assess
        expect(decoded).toEqual({ kind: 'ignored', reason: 'outcome-type', type });
      }),
      { numRuns: 300 },
    );
  });
});

/** An own-property copy (spreading a null-prototype dictionary with a __proto__ key keeps the key). */
function roundTripObject(value: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

/** A valid Create with tolerate and quorum within range for its members (either may be absent). */
const validPolicyCreate = validCreate.chain((event) => {
  const n = event.expected.length;
  return fc
    .record(
      { quorum: fc.integer({ min: 1, max: n }), tolerate: fc.integer({ min: 0, max: n }) },
      { requiredKeys: [] },
    )
    .map(({ quorum, tolerate }) => ({
      ...event,
      ...(quorum === undefined ? {} : { quorum }),
      ...(tolerate === undefined
        ? {}
        : { tolerate: quorum === undefined ? tolerate : Math.min(tolerate, n - quorum) }),
    }));
});
const validCancel = fc.record(
  {
    type: fc.constant(COMMAND_TYPES.cancel),
    group: validId,
    message: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  },
  { requiredKeys: ['type', 'group'] },
);
const validExtend = fc.record({
  type: fc.constant(COMMAND_TYPES.extend),
  group: validId,
  ttl: fc.integer({ min: 1, max: LIMITS.maxTtlSeconds }),
});

/** decodeEvent either decodes to one of its kinds or throws a DeadLetterError with a stable reason. */
function expectEventTotal(value: Uint8Array): DecodedEvent | DeadLetterError {
  let result: DecodedEvent | DeadLetterError;
  try {
    result = decodeEvent(value, limits);
  } catch (error) {
    if (!(error instanceof DeadLetterError)) throw error;
    result = error;
  }
  if (result instanceof DeadLetterError) expect(reasons).toContain(result.reason);
  else expect(['create', 'report', 'ignored', 'cancel', 'extend']).toContain(result.kind);
  return result;
}

describe('decodeEvent (issue 20): total, and valid events decode to what was sent', () => {
  it('never throws anything but a DeadLetterError, for mutated Creates with policies, Cancels and Extends', () => {
    const field = fc.constantFrom('type', 'group', 'message', 'ttl', 'tolerate', 'quorum', 'expected');
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('delete' as const), field }),
      fc.record({ op: fc.constant('set' as const), field, value: fc.jsonValue({ maxDepth: 2 }) }),
      fc.record({ op: fc.constant('set' as const), field, value: fc.integer({ min: -3, max: 30 }) }),
    );
    fc.assert(
      fc.property(
        fc.oneof(validPolicyCreate, validCancel, validExtend),
        fc.array(mutation, { maxLength: 3 }),
        (event, ops) => {
          // Prepare
          const value: Record<string, unknown> = { ...event };
          for (const op of ops) {
            if (op.op === 'delete') delete value[op.field];
            else value[op.field] = op.value;
          }

          // Act / Assess
          const result = expectEventTotal(encode(JSON.stringify(value)));
          if (ops.length === 0) expect(result).not.toBeInstanceOf(DeadLetterError);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('a valid Create keeps tolerate (n − quorum when only quorum is given) and quorum; decodeValue (the service) decodes the same', () => {
    fc.assert(
      fc.property(validPolicyCreate, (event) => {
        // Prepare
        const bytes = encode(JSON.stringify(event));
        const n = event.expected.length;
        const tolerate = event.tolerate ?? (event.quorum === undefined ? 0 : n - event.quorum);

        // Act
        const decoded = decodeEvent(bytes, limits);
        const legacy = outcomeOf(bytes);

        // Assess
        if (decoded.kind !== 'create') return expect.fail(decoded.kind);
        expect(decoded.definition.tolerate ?? 0).toBe(tolerate);
        expect(decoded.definition.quorum).toBe(event.quorum);
        expect(legacy).toEqual(decoded);
      }),
      { numRuns: 500 },
    );
  });

  it('a valid Cancel or Extend decodes to its request', () => {
    fc.assert(
      fc.property(fc.oneof(validCancel, validExtend), (event) => {
        // Act
        const decoded = decodeEvent(encode(JSON.stringify(event)), limits);

        // Assess
        if ('ttl' in event)
          expect(decoded).toEqual({ kind: 'extend', extend: { group: event.group, ttlSeconds: event.ttl } });
        else
          expect(decoded).toEqual({ kind: 'cancel', cancel: { group: event.group, message: event.message } });
      }),
      { numRuns: 500 },
    );
  });
});
