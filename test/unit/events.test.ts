import { describe, expect, it } from 'vitest';
import { DeadLetterError, type DeadLetterReason, DLQ_REASONS } from '#core/errors.ts';
import { COMMAND_TYPES, type Decoded, decodeEvent, decodeValue } from '#core/events.ts';
import { definitionHash } from '#core/model.ts';
import { EVENT_TYPES, LIMITS } from '#shared/config.ts';

const limits = { maxTtlSeconds: LIMITS.maxTtlSeconds };
const bytes = (text: string) => Buffer.from(text, 'utf8');
const create = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({ id: 'g1', type: EVENT_TYPES.create, expected: ['a', 'b'], ...fields });
const done = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({ id: 'a', type: EVENT_TYPES.done, group: 'g1', ...fields });
const cancel = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({ type: COMMAND_TYPES.cancel, group: 'g1', ...fields });
const extend = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({ type: COMMAND_TYPES.extend, group: 'g1', ttl: 60, ...fields });
/** Removes one field from a JSON object text. */
const without = (text: string, field: string) => {
  const value = JSON.parse(text) as Record<string, unknown>;
  delete value[field];
  return JSON.stringify(value);
};

/** The dead-letter error decodeValue throws for `value`, or a failed expectation if it decodes. */
function rejection(value: Uint8Array | string | null | undefined): DeadLetterError {
  const input = typeof value === 'string' ? bytes(value) : value;
  try {
    const decoded = decodeValue(input, limits);
    expect.fail(`expected a dead letter, decoded ${JSON.stringify(decoded)}`);
  } catch (error) {
    expect(error).toBeInstanceOf(DeadLetterError);
    return error as DeadLetterError;
  }
}

const expectReason = (value: Uint8Array | string | null | undefined, reason: DeadLetterReason) =>
  expect(rejection(value).reason).toBe(reason);

const decode = (text: string): Decoded => decodeValue(bytes(text), limits);

/** `depth` nested arrays around the number 1: [[[1]]] has depth 3. */
const nested = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

describe('decodeValue: valid events', () => {
  it('decodes a Create with defaults: ttl 30, no payload, no replyTo', () => {
    // Prepare
    const text = create();

    // Act
    const decoded = decode(text);

    // Assess
    expect(decoded).toEqual({
      kind: 'create',
      definition: { id: 'g1', expected: ['a', 'b'], ttlSeconds: 30, payload: undefined, replyTo: undefined },
    });
  });

  it('decodes the full Create of the contract, payload kept as JSON text in the order sent', () => {
    // Prepare
    const text = create({ ttl: 120, payload: { z: 1, a: [true, null] }, replyTo: 'replies.topic-1' });

    // Act
    const decoded = decode(text);

    // Assess
    expect(decoded).toEqual({
      kind: 'create',
      definition: {
        id: 'g1',
        expected: ['a', 'b'],
        ttlSeconds: 120,
        payload: '{"z":1,"a":[true,null]}',
        replyTo: 'replies.topic-1',
      },
    });
  });

  it('decodes a report; an absent result is null, and error is kept', () => {
    // Prepare
    const withResult = done({ result: { job: 'A', bar: true } });
    const withoutResult = done();
    const failed = done({ error: 'disk full' });

    // Act
    const decoded = [withResult, withoutResult, failed].map(decode);

    // Assess
    expect(decoded).toEqual([
      {
        kind: 'report',
        report: { group: 'g1', member: 'a', result: '{"job":"A","bar":true}', error: undefined },
      },
      { kind: 'report', report: { group: 'g1', member: 'a', result: 'null', error: undefined } },
      { kind: 'report', report: { group: 'g1', member: 'a', result: 'null', error: 'disk full' } },
    ]);
  });

  it('ignores both outcome types silently, whatever their other fields', () => {
    // Prepare
    const outcomes = [
      JSON.stringify({ type: EVENT_TYPES.success }),
      JSON.stringify({ type: EVENT_TYPES.failure, id: 42, results: 'nonsense' }),
    ];

    // Act
    const decoded = outcomes.map(decode);

    // Assess
    expect(decoded).toEqual([
      { kind: 'ignored', reason: 'outcome-type', type: EVENT_TYPES.success },
      { kind: 'ignored', reason: 'outcome-type', type: EVENT_TYPES.failure },
    ]);
  });

  it('keeps __proto__ in payload and result as plain data, and ignores it at the top level', () => {
    // Prepare
    const createText = `{"__proto__":{"polluted":1},"id":"g1","type":"${EVENT_TYPES.create}","expected":["__proto__"],"payload":{"__proto__":{"x":1}}}`;
    const doneText = `{"id":"__proto__","type":"${EVENT_TYPES.done}","group":"g1","result":{"__proto__":[1]}}`;

    // Act
    const created = decode(createText);
    const reported = decode(doneText);

    // Assess
    expect(created).toMatchObject({
      kind: 'create',
      definition: { expected: ['__proto__'], payload: '{"__proto__":{"x":1}}' },
    });
    expect(reported).toMatchObject({
      kind: 'report',
      report: { member: '__proto__', result: '{"__proto__":[1]}' },
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts the limits exactly: 256-byte ids, 10,000 members, ttl at the maximum, 64 levels of nesting', () => {
    // Prepare
    const longId = 'é'.repeat(128); // 256 UTF-8 bytes
    const members = Array.from({ length: LIMITS.maxMembers }, (_, i) => `m${i}`);
    const texts = [
      create({ id: longId, expected: [longId] }),
      done({ id: longId, group: longId }),
      create({ expected: members }),
      create({ ttl: LIMITS.maxTtlSeconds }),
      create({ ttl: 1 }),
      create({ payload: nested(63) }), // object + 63 arrays = 64 levels
    ];

    // Act
    const kinds = texts.map((t) => decode(t).kind);

    // Assess
    expect(kinds).toEqual(['create', 'report', 'create', 'create', 'create', 'create']);
  });

  it('accepts a result, payload and error exactly at their size limits', () => {
    // Prepare: a JSON string of n bytes is n - 2 characters between quotes
    const result = 'x'.repeat(LIMITS.maxResultBytes - 2);
    const payload = 'x'.repeat(LIMITS.maxPayloadBytes - 2);
    const error = 'é'.repeat(LIMITS.maxErrorBytes / 2);

    // Act
    const decoded = [done({ result }), create({ payload }), done({ error })].map((t) => decode(t).kind);

    // Assess
    expect(decoded).toEqual(['report', 'create', 'report']);
  });
});

describe('decodeValue: every dead-letter reason it produces', () => {
  it('empty-value: no value, or zero bytes', () => {
    // Prepare / Act / Assess
    expectReason(null, DLQ_REASONS.emptyValue);
    expectReason(undefined, DLQ_REASONS.emptyValue);
    expectReason(new Uint8Array(), DLQ_REASONS.emptyValue);
  });

  it('value-too-large: one byte over the input limit, before any parsing', () => {
    // Prepare
    const over = new Uint8Array(LIMITS.maxInputBytes + 1).fill(0x20);
    const at = Buffer.concat([
      bytes(create()),
      Buffer.alloc(LIMITS.maxInputBytes - bytes(create()).length, 0x20),
    ]);

    // Act
    const error = rejection(over);
    const accepted = decodeValue(at, limits);

    // Assess
    expect(error.reason).toBe(DLQ_REASONS.valueTooLarge);
    expect(error.message).toContain(String(LIMITS.maxInputBytes));
    expect(accepted.kind).toBe('create');
  });

  it.each([
    ['truncated JSON', '{"id":"g1","type":'],
    ['not JSON at all', 'hello'],
    ['trailing garbage', `${create()} x`],
    ['single quotes', "{'id':'g1'}"],
    ['only whitespace', '   '],
  ])('malformed-json: %s', (_name, text) => {
    // Prepare / Act / Assess
    expectReason(text, DLQ_REASONS.malformedJson);
  });

  it.each([
    ['a lone continuation byte', [0x7b, 0x80, 0x7d]],
    ['a truncated two-byte sequence', [0x22, 0xc3, 0x22]],
    ['an overlong encoding of "/"', [0x22, 0xc0, 0xaf, 0x22]],
    ['an encoded surrogate half', [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ['0xFF', [0xff]],
  ])('malformed-json: invalid UTF-8, %s', (_name, raw) => {
    // Prepare
    const value = new Uint8Array(raw);

    // Act
    const error = rejection(value);

    // Assess
    expect(error.reason).toBe(DLQ_REASONS.malformedJson);
    expect(error.message).toMatch(/UTF-8/);
  });

  it('malformed-json: invalid UTF-8 inside an otherwise valid event', () => {
    // Prepare
    const value = Buffer.concat([bytes('{"id":"g1","type":"'), Buffer.from([0xfe]), bytes('"}')]);

    // Act / Assess
    expectReason(value, DLQ_REASONS.malformedJson);
  });

  it.each([
    ['an array', '[1,2]', 'array'],
    ['an empty array', '[]', 'array'],
    ['a number', '42', 'number'],
    ['null', 'null', 'null'],
    ['a string', '"EventGroupCollectorCreate"', 'string'],
    ['a boolean', 'true', 'boolean'],
  ])('not-an-object: %s', (_name, text, kind) => {
    // Act
    const error = rejection(text);

    // Assess
    expect(error.reason).toBe(DLQ_REASONS.notAnObject);
    expect(error.message).toContain(kind);
  });

  it.each([
    ['missing', '{"id":"g1"}'],
    ['a number', '{"type":1}'],
    ['null', '{"type":null}'],
    ['an array', `{"type":["${EVENT_TYPES.create}"]}`],
    ['an object', '{"type":{}}'],
  ])('invalid-field: type %s', (_name, text) => {
    // Act
    const error = rejection(text);

    // Assess
    expect(error.reason).toBe(DLQ_REASONS.invalidField);
    expect(error.message).toContain('"type"');
  });

  it.each([
    ['an unknown name', 'EventGroupCollectorDelete'],
    ['the wrong case', 'eventgroupcollectorcreate'],
    ['an empty string', ''],
    ['a padded name', ` ${EVENT_TYPES.create}`],
  ])('unknown-type: %s', (_name, type) => {
    // Act
    const error = rejection(JSON.stringify({ type, id: 'g1', expected: ['a'] }));

    // Assess
    expect(error.reason).toBe(DLQ_REASONS.unknownType);
  });

  it('unknown-type: a very long type is truncated in the message', () => {
    // Act
    const error = rejection(JSON.stringify({ type: 'T'.repeat(10_000) }));

    // Assess
    expect(error.reason).toBe(DLQ_REASONS.unknownType);
    expect(error.message.length).toBeLessThan(200);
  });

  it.each([
    ['id missing', without(create(), 'id')],
    ['id empty', create({ id: '' })],
    ['id a number', create({ id: 7 })],
    ['id null', create({ id: null })],
    ['expected missing', without(create(), 'expected')],
    ['expected a string', create({ expected: 'a' })],
    ['expected an object', create({ expected: { a: true } })],
    ['expected member empty', create({ expected: ['a', ''] })],
    ['expected member a number', create({ expected: ['a', 2] })],
    ['expected member null', create({ expected: [null] })],
    ['ttl a string', create({ ttl: '30' })],
    ['ttl null', create({ ttl: null })],
    ['ttl zero', create({ ttl: 0 })],
    ['ttl negative', create({ ttl: -5 })],
    ['ttl not whole', create({ ttl: 1.5 })],
    ['ttl beyond safe integers', create({ ttl: 1e20 })],
    ['replyTo empty', create({ replyTo: '' })],
    ['replyTo with a space', create({ replyTo: 'my topic' })],
    ['replyTo a number', create({ replyTo: 5 })],
    ['replyTo over 249 characters', create({ replyTo: 't'.repeat(250) })],
  ])('invalid-field: Create with %s', (_name, text) => {
    // Act
    const error = rejection(text);

    // Assess
    expect(error.reason).toBe(DLQ_REASONS.invalidField);
  });

  it.each([
    ['id missing', without(done(), 'id')],
    ['id empty', done({ id: '' })],
    ['id a number', done({ id: 1 })],
    ['group missing', without(done(), 'group')],
    ['group empty', done({ group: '' })],
    ['group an object', done({ group: { id: 'g1' } })],
    ['error empty', done({ error: '' })],
    ['error a number', done({ error: 500 })],
    ['error an object', done({ error: { message: 'boom' } })],
    ['error null', done({ error: null })],
    ['error true', done({ error: true })],
  ])('invalid-field: EntityDone with %s', (_name, text) => {
    // Act
    const error = rejection(text);

    // Assess
    expect(error.reason).toBe(DLQ_REASONS.invalidField);
  });

  it('invalid-field: the message names the field at fault', () => {
    // Act
    const error = rejection(create({ expected: ['a', 3] }));

    // Assess
    expect(error.message).toContain('expected.1');
  });

  it('empty-expected', () => {
    // Act / Assess
    expectReason(create({ expected: [] }), DLQ_REASONS.emptyExpected);
  });

  it('duplicate-expected, naming the member', () => {
    // Act
    const error = rejection(create({ expected: ['a', 'b', 'a'] }));

    // Assess
    expect(error.reason).toBe(DLQ_REASONS.duplicateExpected);
    expect(error.message).toContain('"a"');
  });

  it('too-many-members: one over the limit', () => {
    // Prepare
    const members = Array.from({ length: LIMITS.maxMembers + 1 }, (_, i) => `m${i}`);

    // Act / Assess
    expectReason(create({ expected: members }), DLQ_REASONS.tooManyMembers);
  });

  it.each([
    ['group id', create({ id: 'x'.repeat(257) })],
    ['group id in UTF-8 bytes, not characters', create({ id: `${'é'.repeat(128)}x` })],
    ['expected member', create({ expected: ['a', '€'.repeat(86)] })], // 258 bytes, 86 characters
    ['member id of a report', done({ id: 'ü'.repeat(129) })],
    ['group of a report', done({ group: 'g'.repeat(257) })],
  ])('id-too-long: %s', (_name, text) => {
    // Act / Assess
    expectReason(text, DLQ_REASONS.idTooLong);
  });

  it('ttl-out-of-range: one second over the maximum, and over a tightened maximum', () => {
    // Prepare
    const over = create({ ttl: LIMITS.maxTtlSeconds + 1 });
    const tightened = create({ ttl: 61 });

    // Act
    const errors = [rejection(over)];
    let tight: unknown;
    try {
      decodeValue(bytes(tightened), { maxTtlSeconds: 60 });
    } catch (error) {
      tight = error;
    }

    // Assess
    expect(errors[0]?.reason).toBe(DLQ_REASONS.ttlOutOfRange);
    expect(tight).toBeInstanceOf(DeadLetterError);
    expect((tight as DeadLetterError).reason).toBe(DLQ_REASONS.ttlOutOfRange);
    expect(decodeValue(bytes(create({ ttl: 60 })), { maxTtlSeconds: 60 }).kind).toBe('create');
  });

  it('ttl-out-of-range: the default ttl over a maximum tightened below it', () => {
    // Act
    let caught: unknown;
    try {
      decodeValue(bytes(create()), { maxTtlSeconds: 10 });
    } catch (error) {
      caught = error;
    }

    // Assess
    expect((caught as DeadLetterError).reason).toBe(DLQ_REASONS.ttlOutOfRange);
  });

  it('payload-too-large: one byte over, counted in UTF-8 bytes', () => {
    // Prepare: "é" is 2 bytes; the quotes add 2
    const payload = `${'é'.repeat(LIMITS.maxPayloadBytes / 2 - 1)}x`;

    // Act / Assess
    expectReason(create({ payload }), DLQ_REASONS.payloadTooLarge);
  });

  it('result-too-large: one byte over, counted in UTF-8 bytes', () => {
    // Prepare
    const result = { r: '€'.repeat(Math.ceil(LIMITS.maxResultBytes / 3)) };

    // Act / Assess
    expectReason(done({ result }), DLQ_REASONS.resultTooLarge);
    expectReason(done({ result: 'x'.repeat(LIMITS.maxResultBytes - 1) }), DLQ_REASONS.resultTooLarge);
  });

  it('result-too-large: an error over its own limit', () => {
    // Prepare
    const error = `${'é'.repeat(LIMITS.maxErrorBytes / 2)}x`;

    // Act
    const rejected = rejection(done({ error }));

    // Assess
    expect(rejected.reason).toBe(DLQ_REASONS.resultTooLarge);
    expect(rejected.message).toContain('"error"');
  });

  it('invalid-field: nesting deeper than 64 levels, wherever it is', () => {
    // Prepare
    const deepPayload = create({ payload: nested(64) }); // object + 64 arrays = 65 levels
    const deepResult = done({ result: nested(200) });
    const deepUnknown = JSON.stringify({ type: 'Whatever', x: nested(100) });
    const deepOutcome = JSON.stringify({ type: EVENT_TYPES.success, x: nested(100) });

    // Act
    const errors = [deepPayload, deepResult, deepUnknown].map(rejection);
    // The collector's own outcome (type first, as it writes it) is ignored before any depth check (issue 17 item 12).
    expect(decodeValue(Buffer.from(deepOutcome), { maxTtlSeconds: 60 }).kind).toBe('ignored');

    // Assess
    for (const error of errors) {
      expect(error.reason).toBe(DLQ_REASONS.invalidField);
      expect(error.message).toContain('64');
    }
  });

  it('nesting far beyond 64 levels (100,000) is a dead letter, not a stack overflow', () => {
    // Prepare
    const text = `{"type":"x","p":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;

    // Act
    const error = rejection(text);

    // Assess
    expect([DLQ_REASONS.invalidField, DLQ_REASONS.malformedJson]).toContain(error.reason);
  });

  it('the reasons decode produces are all stable codes of DLQ_REASONS', () => {
    // Prepare
    const inputs: (string | Uint8Array | null)[] = [
      null,
      new Uint8Array(LIMITS.maxInputBytes + 1),
      '{',
      '[]',
      '{}',
      '{"type":"nope"}',
      create({ expected: [] }),
      create({ expected: ['a', 'a'] }),
      create({ expected: Array.from({ length: LIMITS.maxMembers + 1 }, (_, i) => `${i}`) }),
      create({ id: 'x'.repeat(300) }),
      create({ ttl: LIMITS.maxTtlSeconds + 1 }),
      create({ payload: 'x'.repeat(LIMITS.maxPayloadBytes) }),
      done({ result: 'x'.repeat(LIMITS.maxResultBytes) }),
      create({ tolerate: 3 }),
      create({ quorum: 3 }),
      cancel({ message: 'm'.repeat(LIMITS.maxErrorBytes + 1) }),
    ];

    // Act
    const reasons = new Set(inputs.map((input) => rejection(input).reason));

    // Assess: everything except the reasons only the service can know
    const serviceOnly: DeadLetterReason[] = [
      DLQ_REASONS.memberNotExpected,
      DLQ_REASONS.createConflict,
      DLQ_REASONS.groupNeverCreated,
      DLQ_REASONS.replyTopicUnknown,
      DLQ_REASONS.tooManyEarlyReports,
      // The collector checks a protected group's proofs (in its headers) after decoding the value.
      DLQ_REASONS.unauthenticated,
    ];
    expect([...reasons].sort()).toEqual(
      Object.values(DLQ_REASONS)
        .filter((r) => !serviceOnly.includes(r))
        .sort(),
    );
  });
});

/** decodeEvent's dead letter for `text` (issue 20's inputs), or a failed expectation if it decodes. */
function eventRejection(text: string): DeadLetterError {
  try {
    const decoded = decodeEvent(bytes(text), limits);
    expect.fail(`expected a dead letter, decoded ${JSON.stringify(decoded)}`);
  } catch (error) {
    expect(error).toBeInstanceOf(DeadLetterError);
    return error as DeadLetterError;
  }
}

describe('decodeEvent: tolerate and quorum (issue 20)', () => {
  const three = (fields: Record<string, unknown>) => create({ expected: ['a', 'b', 'c'], ...fields });
  const definitionOf = (text: string) => {
    const decoded = decodeEvent(bytes(text), limits);
    if (decoded.kind !== 'create') return expect.fail(`decoded ${decoded.kind}`);
    return decoded.definition;
  };

  it('keeps a given tolerate, 0 to n; 0 is a plain group and leaves no trace', () => {
    // Act
    const [zero, one, all] = [0, 1, 3].map((tolerate) => definitionOf(three({ tolerate })));

    // Assess
    expect(zero).not.toHaveProperty('tolerate');
    expect(zero).not.toHaveProperty('quorum');
    expect(one?.tolerate).toBe(1);
    expect(all?.tolerate).toBe(3);
  });

  it('a quorum without tolerate tolerates n − quorum; with one, tolerate is kept', () => {
    // Act
    const any = definitionOf(three({ quorum: 1 }));
    const two = definitionOf(three({ quorum: 2 }));
    const strict = definitionOf(three({ quorum: 2, tolerate: 0 }));
    const everyone = definitionOf(three({ quorum: 3 }));

    // Assess
    expect(any).toMatchObject({ quorum: 1, tolerate: 2 });
    expect(two).toMatchObject({ quorum: 2, tolerate: 1 });
    expect(strict).toMatchObject({ quorum: 2 });
    expect(strict).not.toHaveProperty('tolerate');
    expect(everyone).toMatchObject({ quorum: 3 });
    expect(everyone).not.toHaveProperty('tolerate');
  });

  it.each([
    ['tolerate above n', three({ tolerate: 4 }), DLQ_REASONS.tolerateOutOfRange],
    ['tolerate above n − quorum', three({ quorum: 2, tolerate: 2 }), DLQ_REASONS.tolerateOutOfRange],
    ['quorum above n', three({ quorum: 4 }), DLQ_REASONS.quorumOutOfRange],
    ['tolerate negative', three({ tolerate: -1 }), DLQ_REASONS.invalidField],
    ['tolerate fractional', three({ tolerate: 0.5 }), DLQ_REASONS.invalidField],
    ['tolerate a string', three({ tolerate: '1' }), DLQ_REASONS.invalidField],
    ['tolerate null', three({ tolerate: null }), DLQ_REASONS.invalidField],
    ['quorum 0', three({ quorum: 0 }), DLQ_REASONS.invalidField],
    ['quorum fractional', three({ quorum: 1.5 }), DLQ_REASONS.invalidField],
    ['quorum a boolean', three({ quorum: true }), DLQ_REASONS.invalidField],
  ])('%s is a dead letter', (_, text, reason) => {
    // Act
    const error = eventRejection(text);

    // Assess
    expect(error.reason).toBe(reason);
    if (reason !== DLQ_REASONS.invalidField) expect(error.message).toMatch(/"(tolerate|quorum)" \d/);
  });

  it('decodeValue (the service as wired) accepts a valid tolerate or quorum, and refuses an invalid one with its own reason', () => {
    // Act
    const tolerated = decodeValue(bytes(three({ tolerate: 1 })), limits);
    const quorum = decodeValue(bytes(three({ quorum: 2 })), limits);
    const zero = decodeValue(bytes(three({ tolerate: 0 })), limits);

    // Assess
    expect(tolerated).toMatchObject({ kind: 'create', definition: { tolerate: 1 } });
    expect(quorum).toMatchObject({ kind: 'create', definition: { tolerate: 1, quorum: 2 } });
    expect(zero.kind).toBe('create');
    expectReason(three({ tolerate: 9 }), DLQ_REASONS.tolerateOutOfRange);
  });
});

describe('decodeEvent: Cancel and Extend (issue 20)', () => {
  it('decodes a Cancel with and without a message, and an Extend', () => {
    // Act
    const decoded = [cancel({ message: 'stop now' }), cancel(), extend({ ttl: 300 })].map((t) =>
      decodeEvent(bytes(t), limits),
    );

    // Assess
    expect(decoded).toEqual([
      { kind: 'cancel', cancel: { group: 'g1', message: 'stop now' } },
      { kind: 'cancel', cancel: { group: 'g1', message: undefined } },
      { kind: 'extend', extend: { group: 'g1', ttlSeconds: 300 } },
    ]);
  });

  it('accepts a message exactly at the error limit and an Extend ttl at the maximum', () => {
    // Prepare
    const message = 'é'.repeat(LIMITS.maxErrorBytes / 2);

    // Act
    const decoded = [cancel({ message }), extend({ ttl: LIMITS.maxTtlSeconds })].map(
      (t) => decodeEvent(bytes(t), limits).kind,
    );

    // Assess
    expect(decoded).toEqual(['cancel', 'extend']);
  });

  it.each([
    ['Cancel without group', without(cancel(), 'group'), DLQ_REASONS.invalidField],
    ['Cancel with an empty group', cancel({ group: '' }), DLQ_REASONS.invalidField],
    ['Cancel with a numeric group', cancel({ group: 7 }), DLQ_REASONS.invalidField],
    ['Cancel with a group of 257 bytes', cancel({ group: 'g'.repeat(257) }), DLQ_REASONS.idTooLong],
    ['Cancel with an empty message', cancel({ message: '' }), DLQ_REASONS.invalidField],
    ['Cancel with a message object', cancel({ message: { text: 'x' } }), DLQ_REASONS.invalidField],
    ['Cancel with a lone surrogate', cancel({ message: 'a\ud800' }), DLQ_REASONS.invalidField],
    [
      'Cancel with a message one byte over',
      cancel({ message: 'm'.repeat(LIMITS.maxErrorBytes + 1) }),
      DLQ_REASONS.messageTooLarge,
    ],
    ['Extend without group', without(extend(), 'group'), DLQ_REASONS.invalidField],
    ['Extend without ttl', without(extend(), 'ttl'), DLQ_REASONS.invalidField],
    ['Extend with ttl 0', extend({ ttl: 0 }), DLQ_REASONS.invalidField],
    ['Extend with ttl negative', extend({ ttl: -30 }), DLQ_REASONS.invalidField],
    ['Extend with ttl fractional', extend({ ttl: 1.5 }), DLQ_REASONS.invalidField],
    ['Extend with ttl a string', extend({ ttl: '60' }), DLQ_REASONS.invalidField],
    [
      'Extend with ttl over the maximum',
      extend({ ttl: LIMITS.maxTtlSeconds + 1 }),
      DLQ_REASONS.ttlOutOfRange,
    ],
  ])('%s is a dead letter', (_, text, reason) => {
    // Act / Assess
    expect(eventRejection(text).reason).toBe(reason);
  });

  it('decodeValue (the service as wired) accepts a valid Cancel and Extend, refuses a bad one with its own reason', () => {
    // Act / Assess
    expect(decode(cancel({ message: 'm' }))).toEqual({
      kind: 'cancel',
      cancel: { group: expect.any(String), message: 'm' },
    });
    expect(decode(extend({ ttl: 60 }))).toEqual({
      kind: 'extend',
      extend: { group: expect.any(String), ttlSeconds: 60 },
    });
    expectReason(without(cancel(), 'group'), DLQ_REASONS.invalidField);
    expectReason(extend({ ttl: LIMITS.maxTtlSeconds + 1 }), DLQ_REASONS.ttlOutOfRange);
  });
});

describe('definitionHash', () => {
  const plain = {
    id: 'g1',
    expected: ['a', 'b', 'c'],
    ttlSeconds: 120,
    payload: '{"z":1}',
    replyTo: undefined,
  };

  it('is, for a plain group, the hash the collector computed before issue 20 (a redelivered Create stays a duplicate)', () => {
    // Act / Assess: the value main's service/collector.ts definitionHash gives for this definition
    expect(definitionHash(plain)).toBe('P0fldNQu7cANSUnKjCM1Bz5B5Dqjs2bjpcfRljQY03Q');
  });

  it('tells groups apart by tolerate and quorum; a derived tolerate equals the same one given', () => {
    // Prepare
    const decoded = (fields: Record<string, unknown>) => {
      const d = decodeEvent(bytes(create({ expected: ['a', 'b', 'c'], ...fields })), limits);
      return d.kind === 'create' ? definitionHash(d.definition) : expect.fail(d.kind);
    };

    // Act
    const hashes = {
      none: decoded({}),
      zero: decoded({ tolerate: 0 }),
      one: decoded({ tolerate: 1 }),
      quorum: decoded({ quorum: 2 }),
      quorumGiven: decoded({ quorum: 2, tolerate: 1 }),
      quorumStrict: decoded({ quorum: 2, tolerate: 0 }),
    };

    // Assess
    expect(hashes.zero).toBe(hashes.none);
    expect(hashes.quorumGiven).toBe(hashes.quorum);
    expect(new Set([hashes.none, hashes.one, hashes.quorum, hashes.quorumStrict]).size).toBe(4);
  });
});
