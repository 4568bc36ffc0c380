import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, utf8Bytes } from '#core/canonical.ts';
import {
  buildBoundedOutcome,
  buildOutcome,
  type GroupOutcomeKind,
  type OutcomeInput,
  REASON_OF,
  timeoutMessage,
} from '#core/outcome.ts';
import { EVENT_TYPES } from '#shared/config.ts';

/** JSON values, with keys that touch prototypes in careless code. */
const json: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(
    fc.oneof(fc.constantFrom('__proto__', 'constructor', '0', '10'), fc.string({ maxLength: 5 })),
    fc.jsonValue({ maxDepth: 2 }),
    { maxKeys: 4 },
  ),
);
/** Any string, including lone surrogates: JSON.stringify escapes them. */
const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('__proto__', '0'));
/** Dates within what toISOString writes with a four-digit year. */
const ms = fc.integer({ min: 0, max: Date.parse('9999-12-31T23:59:59.999Z') });

const outcomeInput: fc.Arbitrary<OutcomeInput<GroupOutcomeKind>> = fc
  .record({
    kind: fc.constantFrom(
      'success',
      'member-failure',
      'timeout',
      'cancelled',
    ) as fc.Arbitrary<GroupOutcomeKind>,
    groupId: anyString,
    createdMs: ms,
    resolvedMs: ms,
    results: fc.uniqueArray(fc.tuple(anyString, json), { selector: ([member]) => member, maxLength: 8 }),
    payload: fc.option(json, { nil: undefined }),
    entity: anyString,
    error: anyString,
    missing: fc.option(fc.uniqueArray(anyString, { maxLength: 5 }), { nil: undefined }),
    ttlSeconds: fc.integer({ min: 1, max: 604_800 }),
    errors: fc.option(
      fc.uniqueArray(fc.tuple(anyString, anyString), { selector: ([m]) => m, maxLength: 4 }),
      {
        nil: undefined,
      },
    ),
    reasons: fc.option(fc.boolean(), { nil: undefined }),
  })
  .map((r) => ({
    ...r,
    results: r.results.map(([member, value]): [string, string] => [member, JSON.stringify(value)]),
    payload: r.payload === undefined ? undefined : JSON.stringify(r.payload),
  }));

/** The structure the outcome text is meant to have, as plain data. */
function intended(input: OutcomeInput<GroupOutcomeKind>): Record<string, unknown> {
  const { kind } = input;
  const out: Record<string, unknown> = {
    type: kind === 'success' ? EVENT_TYPES.success : EVENT_TYPES.failure,
    id: input.groupId,
  };
  if (kind === 'member-failure') Object.assign(out, { entity: input.entity, error: input.error });
  if (kind === 'timeout')
    Object.assign(out, { entity: input.groupId, error: timeoutMessage(input.ttlSeconds ?? 0) });
  if (kind === 'cancelled') Object.assign(out, { entity: input.groupId, error: input.error });
  if (kind !== 'success' && (input.reasons || kind === 'cancelled')) out.reason = REASON_OF[kind];
  out.created = new Date(input.createdMs).toISOString();
  out.resolved = new Date(input.resolvedMs).toISOString();
  out.results = Object.fromEntries(input.results.map(([m, r]) => [m, JSON.parse(r)]));
  if (input.errors?.length) out.errors = Object.fromEntries(input.errors);
  if (kind === 'timeout' || kind === 'cancelled') out.missing = input.missing ?? [];
  if (kind === 'success' && input.missing) out.missing = input.missing;
  if (input.payload !== undefined) out.payload = JSON.parse(input.payload);
  return out;
}

/** Text keys of a JSON object in the order written (JSON.parse reorders integer-like keys). */
const topLevelKeys = (text: string) =>
  [
    ...text.matchAll(
      /(?:^\{|,)"(type|id|entity|error|reason|created|resolved|results|errors|missing|payload)":/g,
    ),
  ].map((m) => m[1]);

describe('buildOutcome, for any input', () => {
  it('is valid JSON that parses to the intended structure', () => {
    fc.assert(
      fc.property(outcomeInput, (input) => {
        // Act
        const text = buildOutcome(input);
        const parsed = JSON.parse(text);

        // Assess
        expect(canonicalJson(parsed)).toBe(canonicalJson(intended(input)));
        expect(Object.getPrototypeOf(parsed.results)).toBe(Object.prototype);
      }),
      { numRuns: 1_000 },
    );
  });

  it('writes its keys in the contract order: type, id, [entity, error, [reason]], created, resolved, results, [errors], [missing], [payload]', () => {
    fc.assert(
      fc.property(outcomeInput, (input) => {
        // Prepare: member ids and values must not fake a top-level key for the regular expression
        const plain = {
          ...input,
          results: input.results.map(([m], i): [string, string] => [`m${i}${m.length}`, '1']),
        };
        const simple = {
          ...plain,
          groupId: 'g',
          entity: 'e',
          error: 'x',
          missing: plain.missing && ['z'],
          errors: plain.errors?.map((_, i): [string, string] => [`e${i}`, 'x']),
          payload: plain.payload && '1',
        };

        // Act
        const keys = topLevelKeys(buildOutcome(simple));

        // Assess
        const { kind } = input;
        const expected = ['type', 'id'];
        if (kind !== 'success') expected.push('entity', 'error');
        if (kind !== 'success' && (input.reasons || kind === 'cancelled')) expected.push('reason');
        expected.push('created', 'resolved', 'results');
        if (input.errors?.length) expected.push('errors');
        if (kind === 'timeout' || kind === 'cancelled' || (kind === 'success' && input.missing))
          expected.push('missing');
        if (input.payload !== undefined) expected.push('payload');
        expect(keys).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('carries each result and the payload byte for byte as stored', () => {
    fc.assert(
      fc.property(outcomeInput, (input) => {
        // Act
        const text = buildOutcome(input);

        // Assess
        for (const [member, result] of input.results)
          expect(text).toContain(`${JSON.stringify(member)}:${result}`);
        if (input.payload !== undefined) expect(text.endsWith(`"payload":${input.payload}}`)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('is identical, byte for byte, for identical input', () => {
    fc.assert(
      fc.property(outcomeInput, (input) => {
        // Act
        const first = buildOutcome(input);
        const second = buildOutcome(structuredClone(input));

        // Assess
        expect(Buffer.from(second, 'utf8').equals(Buffer.from(first, 'utf8'))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('buildBoundedOutcome, for any input and limit', () => {
  it('is the outcome itself when it fits, else a failure that says so and fits when the payload allows', () => {
    fc.assert(
      fc.property(outcomeInput, fc.integer({ min: 1, max: 3_000 }), (input, maxBytes) => {
        // Prepare
        const full = buildOutcome(input);
        const size = utf8Bytes(full);

        // Act
        const bounded = buildBoundedOutcome(input, maxBytes);

        // Assess
        if (size <= maxBytes) {
          expect(bounded).toEqual({ text: full, kind: input.kind });
          return;
        }
        const parsed = JSON.parse(bounded.text);
        expect(bounded.kind).toBe('member-failure');
        expect(parsed).toMatchObject({
          type: EVENT_TYPES.failure,
          id: input.groupId,
          entity: input.groupId,
          error: `Outcome too large: ${size} bytes exceed the limit of ${maxBytes} bytes`,
          results: {},
        });
        const reasons = input.reasons === true || input.kind === 'cancelled';
        if (reasons) expect(parsed.reason).toBe('outcome-too-large');
        else expect(parsed).not.toHaveProperty('reason');
        expect(parsed).not.toHaveProperty('errors');
        expect(parsed).not.toHaveProperty('missing');
        // The replacement is as small as it can be: only the payload can keep it over the limit.
        const withoutPayload = buildBoundedOutcome({ ...input, payload: undefined }, maxBytes).text;
        const floor = utf8Bytes(
          buildOutcome({
            ...input,
            payload: undefined,
            results: [],
            kind: 'member-failure',
            entity: input.groupId,
            error: `Outcome too large: ${size} bytes exceed the limit of ${maxBytes} bytes`,
            errors: undefined,
            missing: undefined,
            reasons: false,
          }),
        );
        if (input.payload === undefined) expect(bounded.text).toBe(withoutPayload);
        expect(utf8Bytes(bounded.text)).toBe(
          floor +
            (reasons ? utf8Bytes(',"reason":"outcome-too-large"') : 0) +
            (input.payload === undefined ? 0 : utf8Bytes(`,"payload":${input.payload}`)),
        );
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('canonicalJson, for any JSON value', () => {
  it('parses back to the same value', () => {
    fc.assert(
      fc.property(json, (value) => {
        // Act
        const text = canonicalJson(value);

        // Assess
        // node's deepStrictEqual: vitest's compares an own `constructor` key as the class
        deepStrictEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 1_000 },
    );
  });

  it('does not depend on key order and is a fixed point', () => {
    fc.assert(
      fc.property(json, fc.integer(), (value, seed) => {
        // Prepare: the same value with every object's keys in another order
        const shuffled = reorder(JSON.parse(JSON.stringify(value)), seed);

        // Act
        const text = canonicalJson(value);

        // Assess
        expect(canonicalJson(shuffled)).toBe(text);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(text).not.toMatch(/^\s|\s$/);
      }),
      { numRuns: 1_000 },
    );
  });
});

/** A deep copy with each object's own keys inserted in a seed-dependent order. */
function reorder(value: unknown, seed: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => reorder(v, seed));
  const keys = Object.keys(value);
  const rotated = keys.map((_, i) => keys[(i + Math.abs(seed)) % keys.length] as string).reverse();
  const out: Record<string, unknown> = {};
  for (const k of rotated) {
    Object.defineProperty(out, k, {
      value: reorder((value as Record<string, unknown>)[k], seed),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
