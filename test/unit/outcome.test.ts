import { describe, expect, it } from 'vitest';
import { canonicalJson, fnv1a, sha256, utf8Bytes } from '#core/canonical.ts';
import { buildBoundedOutcome, buildOutcome, iso, type OutcomeInput, timeoutMessage } from '#core/outcome.ts';

const G = 'F0CABCA1-64AE-40A3-ABEB-0741ACF1FF81';
const A = 'A0CABCA1-64AE-40A3-ABEB-0741ACF1FF81';
const B = '366B21B5-E499-40E1-882A-B3EC99B27E47';
const C = '11ACC3BA-F0E5-4962-BC00-0E54497AB296';
const created = Date.parse('2026-11-24T10:00:00.000Z');
const resolved = Date.parse('2026-11-24T10:00:01.250Z');
const base = { groupId: G, createdMs: created, resolvedMs: resolved, payload: '{"group":"payload"}' };

describe('canonicalJson', () => {
  it('sorts keys at every level and writes no whitespace', () => {
    // Prepare
    const value = { b: 1, a: { d: [3, { z: null, y: 'x' }], c: true } };

    // Act
    const text = canonicalJson(value);

    // Assess
    expect(text).toBe('{"a":{"c":true,"d":[3,{"y":"x","z":null}]},"b":1}');
  });

  it('gives the same text for the same value whatever the key order', () => {
    // Prepare
    const one = JSON.parse('{"x":1,"y":[{"p":1,"q":2}],"10":0,"2":0}');
    const other = JSON.parse('{"2":0,"y":[{"q":2,"p":1}],"10":0,"x":1}');

    // Act / Assess
    expect(canonicalJson(one)).toBe(canonicalJson(other));
  });

  it('keeps __proto__ as a plain key and drops undefined members as JSON.stringify does', () => {
    // Prepare
    const value = JSON.parse('{"b":1,"__proto__":{"x":[1]}}') as Record<string, unknown>;
    value.gone = undefined;

    // Act
    const text = canonicalJson(value);
    const array = canonicalJson([1, undefined, 2]);

    // Assess
    expect(text).toBe('{"__proto__":{"x":[1]},"b":1}');
    expect(array).toBe('[1,null,2]');
  });

  it('escapes strings and keys exactly as JSON.stringify', () => {
    // Prepare
    const value = { 'quote"key': 'line\nbreak\u0000', '\ud800': '😀' };

    // Act
    const text = canonicalJson(value);

    // Assess
    expect(JSON.parse(text)).toEqual(value);
    expect(text).toBe(
      `{${JSON.stringify('quote"key')}:${JSON.stringify('line\nbreak\u0000')},"\\ud800":"😀"}`,
    );
  });

  it('sha256 is base64url of the digest; fnv1a and utf8Bytes are stable', () => {
    // Act / Assess
    expect(sha256('')).toBe('47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU');
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(utf8Bytes('é€😀')).toBe(2 + 3 + 4);
  });
});

describe('buildOutcome: the exact bytes of the three kinds (CONTRACT.md)', () => {
  it('success: type, id, created, resolved, results in expected order, payload', () => {
    // Prepare
    const input: OutcomeInput = {
      ...base,
      kind: 'success',
      results: [
        [A, '{"job":"A","bar":true}'],
        [B, '{"job":"B","bar":true}'],
        [C, '{"job":"C","bar":{"buzz":42}}'],
      ],
    };

    // Act
    const text = buildOutcome(input);

    // Assess
    expect(text).toBe(
      `{"type":"EventGroupCollectorSuccess","id":"${G}","created":"2026-11-24T10:00:00.000Z","resolved":"2026-11-24T10:00:01.250Z",` +
        `"results":{"${A}":{"job":"A","bar":true},"${B}":{"job":"B","bar":true},"${C}":{"job":"C","bar":{"buzz":42}}},` +
        `"payload":{"group":"payload"}}`,
    );
  });

  it('member failure: entity and error after id, the failed member null', () => {
    // Prepare
    const error = 'Error while processing operation. Insufficient space on bounded volume';
    const input: OutcomeInput = {
      ...base,
      kind: 'member-failure',
      entity: C,
      error,
      results: [
        [A, '{"job":"A","bar":true}'],
        [B, '{"job":"B","bar":true}'],
        [C, 'null'],
      ],
    };

    // Act
    const text = buildOutcome(input);

    // Assess
    expect(text).toBe(
      `{"type":"EventGroupCollectorFailure","id":"${G}","entity":"${C}","error":"${error}",` +
        `"created":"2026-11-24T10:00:00.000Z","resolved":"2026-11-24T10:00:01.250Z",` +
        `"results":{"${A}":{"job":"A","bar":true},"${B}":{"job":"B","bar":true},"${C}":null},"payload":{"group":"payload"}}`,
    );
  });

  it('timeout: entity is the group id, error names the ttl, missing after results', () => {
    // Prepare
    const input: OutcomeInput = {
      ...base,
      kind: 'timeout',
      ttlSeconds: 120,
      results: [[A, '{"job":"A","bar":true}']],
      missing: [B, C],
    };

    // Act
    const text = buildOutcome(input);

    // Assess
    expect(text).toBe(
      `{"type":"EventGroupCollectorFailure","id":"${G}","entity":"${G}","error":"Operation timed out after 120 seconds",` +
        `"created":"2026-11-24T10:00:00.000Z","resolved":"2026-11-24T10:00:01.250Z",` +
        `"results":{"${A}":{"job":"A","bar":true}},"missing":["${B}","${C}"],"payload":{"group":"payload"}}`,
    );
  });

  it('omits payload when the group has none; a timeout with nothing collected has empty results', () => {
    // Prepare
    const input: OutcomeInput = {
      ...base,
      payload: undefined,
      kind: 'timeout',
      ttlSeconds: 5,
      results: [],
      missing: ['m'],
    };

    // Act
    const text = buildOutcome(input);

    // Assess
    expect(text).toBe(
      `{"type":"EventGroupCollectorFailure","id":"${G}","entity":"${G}","error":"${timeoutMessage(5)}",` +
        `"created":"${iso(created)}","resolved":"${iso(resolved)}","results":{},"missing":["m"]}`,
    );
  });

  it('a payload that is JSON null is carried as null, not dropped', () => {
    // Act
    const parsed = JSON.parse(buildOutcome({ ...base, payload: 'null', kind: 'success', results: [] }));

    // Assess
    expect(parsed).toHaveProperty('payload', null);
  });

  it('__proto__ as a member id or payload key stays plain data', () => {
    // Prepare
    const input: OutcomeInput = {
      ...base,
      kind: 'success',
      results: [
        ['__proto__', '{"polluted":true}'],
        ['constructor', '1'],
      ],
      payload: '{"__proto__":{"polluted":true}}',
    };

    // Act
    const text = buildOutcome(input);
    const parsed = JSON.parse(text);

    // Assess
    expect(text).toContain('"results":{"__proto__":{"polluted":true},"constructor":1}');
    expect(Object.keys(parsed.results)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(parsed.results)).toBe(Object.prototype);
    expect(Object.hasOwn(parsed.payload, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('escapes member ids, errors and the group id as JSON strings', () => {
    // Prepare
    const input: OutcomeInput = {
      ...base,
      groupId: 'g"1\\',
      kind: 'member-failure',
      entity: 'm\n"x"',
      error: 'bad "thing"\u2028',
      results: [['m\n"x"', 'null']],
    };

    // Act
    const parsed = JSON.parse(buildOutcome(input));

    // Assess
    expect(parsed).toMatchObject({ id: 'g"1\\', entity: 'm\n"x"', error: 'bad "thing"\u2028' });
    expect(parsed.results).toEqual({ 'm\n"x"': null });
  });

  it('timestamps are ISO-8601 UTC with milliseconds', () => {
    // Act
    const parsed = JSON.parse(
      buildOutcome({ ...base, createdMs: 0, resolvedMs: 1, kind: 'success', results: [] }),
    );

    // Assess
    expect(parsed.created).toBe('1970-01-01T00:00:00.000Z');
    expect(parsed.resolved).toBe('1970-01-01T00:00:00.001Z');
  });
});

describe('buildBoundedOutcome', () => {
  const big = (n: number): [string, string][] =>
    Array.from({ length: n }, (_, i) => [`m${i}`, JSON.stringify('x'.repeat(1000))]);

  it('returns the outcome unchanged when it fits, including exactly at the limit', () => {
    // Prepare
    const input: OutcomeInput = { ...base, kind: 'success', results: big(3) };
    const size = utf8Bytes(buildOutcome(input));

    // Act
    const atLimit = buildBoundedOutcome(input, size);

    // Assess
    expect(atLimit).toEqual({ text: buildOutcome(input), kind: 'success' });
  });

  it('replaces an oversized success by a failure that says so, with empty results and the payload', () => {
    // Prepare
    const input: OutcomeInput = { ...base, kind: 'success', results: big(3) };
    const size = utf8Bytes(buildOutcome(input));

    // Act
    const bounded = buildBoundedOutcome(input, size - 1);

    // Assess
    expect(bounded.kind).toBe('member-failure');
    expect(bounded.text).toBe(
      `{"type":"EventGroupCollectorFailure","id":"${G}","entity":"${G}",` +
        `"error":"Outcome too large: ${size} bytes exceed the limit of ${size - 1} bytes",` +
        `"created":"${iso(created)}","resolved":"${iso(resolved)}","results":{},"payload":{"group":"payload"}}`,
    );
  });

  it('replaces an oversized member failure and an oversized timeout the same way', () => {
    // Prepare
    const failure: OutcomeInput = {
      ...base,
      kind: 'member-failure',
      entity: 'm0',
      error: 'e',
      results: big(2),
    };
    const timeout: OutcomeInput = {
      ...base,
      kind: 'timeout',
      ttlSeconds: 9,
      results: big(2),
      missing: ['z'],
    };

    // Act
    const outcomes = [failure, timeout].map((input) => buildBoundedOutcome(input, 500));

    // Assess
    for (const outcome of outcomes) {
      const parsed = JSON.parse(outcome.text);
      expect(outcome.kind).toBe('member-failure');
      expect(parsed).toMatchObject({ type: 'EventGroupCollectorFailure', entity: G, results: {} });
      expect(parsed.error).toMatch(/^Outcome too large: \d+ bytes exceed the limit of 500 bytes$/);
      expect(parsed).not.toHaveProperty('missing');
      expect(utf8Bytes(outcome.text)).toBeLessThanOrEqual(500);
    }
  });

  it('counts the limit in UTF-8 bytes, not characters', () => {
    // Prepare: 100 characters of 3 bytes each
    const input: OutcomeInput = {
      ...base,
      payload: undefined,
      kind: 'success',
      results: [['m', `"${'€'.repeat(100)}"`]],
    };
    const chars = buildOutcome(input).length;

    // Act
    const bounded = buildBoundedOutcome(input, chars + 10);

    // Assess
    expect(bounded.kind).toBe('member-failure');
  });

  it('is deterministic: the same input gives the same bytes', () => {
    // Prepare
    const input: OutcomeInput = { ...base, kind: 'success', results: big(5) };

    // Act
    const first = buildBoundedOutcome(input, 1_000);
    const second = buildBoundedOutcome(structuredClone(input), 1_000);

    // Assess
    expect(second).toEqual(first);
  });
});

describe('buildOutcome: issue 20\u2019s fields, exact bytes', () => {
  const head = `"created":"2026-11-24T10:00:00.000Z","resolved":"2026-11-24T10:00:01.250Z"`;

  it('a tolerated success: results of the successes, then errors, then payload', () => {
    // Prepare
    const input: OutcomeInput = {
      ...base,
      kind: 'success',
      results: [[A, '{"job":"A"}']],
      errors: [
        [B, 'disk full'],
        [C, 'quota "exceeded"'],
      ],
      reasons: true,
    };

    // Act
    const text = buildOutcome(input);

    // Assess
    expect(text).toBe(
      `{"type":"EventGroupCollectorSuccess","id":"${G}",${head},"results":{"${A}":{"job":"A"}},` +
        `"errors":{"${B}":"disk full","${C}":"quota \\"exceeded\\""},"payload":{"group":"payload"}}`,
    );
  });

  it('a quorum success: missing after results (and after errors), even when empty; no errors field when there are none', () => {
    // Act
    const withMissing = buildOutcome({
      ...base,
      kind: 'success',
      results: [[A, '1']],
      missing: [C],
      reasons: true,
    });
    const allIn = buildOutcome({
      ...base,
      kind: 'success',
      results: [[A, '1']],
      errors: [],
      missing: [],
      reasons: true,
    });

    // Assess
    expect(withMissing).toBe(
      `{"type":"EventGroupCollectorSuccess","id":"${G}",${head},"results":{"${A}":1},"missing":["${C}"],"payload":{"group":"payload"}}`,
    );
    expect(allIn).toContain(`"results":{"${A}":1},"missing":[],"payload"`);
  });

  it('reason follows error, on each failure kind, when the input asks for reasons', () => {
    // Act
    const memberError = buildOutcome({
      ...base,
      kind: 'member-failure',
      entity: C,
      error: 'boom',
      results: [[C, 'null']],
      errors: [[C, 'boom']],
      reasons: true,
    });
    const timeout = buildOutcome({
      ...base,
      kind: 'timeout',
      ttlSeconds: 5,
      results: [],
      missing: [A],
      reasons: true,
    });

    // Assess
    expect(memberError).toBe(
      `{"type":"EventGroupCollectorFailure","id":"${G}","entity":"${C}","error":"boom","reason":"member-error",${head},` +
        `"results":{"${C}":null},"errors":{"${C}":"boom"},"payload":{"group":"payload"}}`,
    );
    expect(timeout).toContain(`"error":"Operation timed out after 5 seconds","reason":"timeout","created"`);
  });

  it('a cancel: entity is the group id, error and reason cancelled, results so far, missing', () => {
    // Act
    const text = buildOutcome({
      ...base,
      kind: 'cancelled',
      error: 'Cancelled: user left',
      results: [[A, '{"job":"A"}']],
      missing: [B, C],
    });

    // Assess
    expect(text).toBe(
      `{"type":"EventGroupCollectorFailure","id":"${G}","entity":"${G}","error":"Cancelled: user left","reason":"cancelled",${head},` +
        `"results":{"${A}":{"job":"A"}},"missing":["${B}","${C}"],"payload":{"group":"payload"}}`,
    );
  });

  it('without reasons (the service before the wiring) a failure is byte for byte what it was', () => {
    // Act
    const text = buildOutcome({
      ...base,
      kind: 'member-failure',
      entity: C,
      error: 'boom',
      results: [[C, 'null']],
    });

    // Assess
    expect(text).not.toContain('reason');
  });

  it('too large: the replacement says outcome-too-large when reasons are on, and drops errors and missing', () => {
    // Prepare
    const input: OutcomeInput<'cancelled'> = {
      ...base,
      kind: 'cancelled',
      error: 'Cancelled',
      results: [[A, JSON.stringify('x'.repeat(500))]],
      errors: [[B, 'e']],
      missing: [C],
    };

    // Act
    const bounded = buildBoundedOutcome(input, 300);

    // Assess
    expect(bounded.kind).toBe('member-failure');
    expect(JSON.parse(bounded.text)).toEqual({
      type: 'EventGroupCollectorFailure',
      id: G,
      entity: G,
      error: `Outcome too large: ${utf8Bytes(buildOutcome(input))} bytes exceed the limit of 300 bytes`,
      reason: 'outcome-too-large',
      created: iso(created),
      resolved: iso(resolved),
      results: {},
      payload: { group: 'payload' },
    });
  });
});
