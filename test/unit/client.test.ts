import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { buildOutcome } from '#core/outcome.ts';
import { asyncApiPath } from '#local/asyncapi.ts';
import { LIMITS } from '#shared/config.ts';
import {
  failureCause,
  GroupCollectorClient,
  type Outcome,
  parseOutcome,
  ValidationError,
} from '../../client/index.ts';
import { BoundedLru } from '../../client/lru.ts';
import { encodeChecked } from '../../client/validation.ts';

const limits = { maxTtlSeconds: 3600 };
const create = (fields: Record<string, unknown>) =>
  encodeChecked({ id: 'g', type: 'EventGroupCollectorCreate', expected: ['a'], ...fields }, limits);
const report = (fields: Record<string, unknown>) =>
  encodeChecked({ id: 'm', type: 'EventGroupCollectorEntityDone', group: 'g', ...fields }, limits);

const command = (fields: Record<string, unknown>) => encodeChecked({ group: 'g', ...fields }, limits);

function refusal(encode: () => unknown): { field: string; reason: string } | undefined {
  try {
    encode();
    return undefined;
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return { field: error.field, reason: error.reason };
  }
}

describe('client validation: the collector decoder, before sending', () => {
  it.each([
    ['expected []', () => create({ expected: [] }), 'expected', 'empty-expected'],
    ['a member listed twice', () => create({ expected: ['a', 'b', 'a'] }), 'expected', 'duplicate-expected'],
    ['an empty member id', () => create({ expected: [''] }), 'expected', 'invalid-field'],
    [
      'too many members',
      () => create({ expected: Array.from({ length: LIMITS.maxMembers + 1 }, (_, i) => `${i}`) }),
      'expected',
      'too-many-members',
    ],
    ['ttl 0', () => create({ ttl: 0 }), 'ttl', 'invalid-field'],
    ['ttl negative', () => create({ ttl: -1 }), 'ttl', 'invalid-field'],
    ['ttl not a whole number', () => create({ ttl: 2.5 }), 'ttl', 'invalid-field'],
    ['ttl NaN', () => create({ ttl: Number.NaN }), 'ttl', 'invalid-field'],
    ['ttl over the deployment maximum', () => create({ ttl: 3601 }), 'ttl', 'ttl-out-of-range'],
    ['a group id too long', () => create({ id: 'x'.repeat(LIMITS.maxIdBytes + 1) }), 'id', 'id-too-long'],
    [
      'a member id too long',
      () => create({ expected: ['é'.repeat(LIMITS.maxIdBytes / 2 + 1)] }),
      'expected',
      'id-too-long',
    ],
    [
      'a payload too large',
      () => create({ payload: 'p'.repeat(LIMITS.maxPayloadBytes) }),
      'payload',
      'payload-too-large',
    ],
    ['a payload that is not JSON', () => create({ payload: 1n }), 'payload', 'invalid-field'],
    ['a replyTo that is no topic name', () => create({ replyTo: 'no spaces' }), 'replyTo', 'invalid-field'],
    [
      'a result too large',
      () => report({ result: 'r'.repeat(LIMITS.maxResultBytes) }),
      'result',
      'result-too-large',
    ],
    ['an empty error', () => report({ error: '' }), 'error', 'invalid-field'],
    [
      'an error too long',
      () => report({ error: 'e'.repeat(LIMITS.maxErrorBytes + 1) }),
      'error',
      'result-too-large',
    ],
    [
      'a group id too long in a report',
      () => report({ group: 'x'.repeat(LIMITS.maxIdBytes + 1) }),
      'group',
      'id-too-long',
    ],
    ['a lone surrogate in a member id', () => report({ id: '\ud800' }), 'id', 'invalid-field'],
    // Issue 20: validated as the collector validates them
    ['tolerate over the members', () => create({ tolerate: 2 }), 'tolerate', 'tolerate-out-of-range'],
    ['quorum 0', () => create({ quorum: 0 }), 'quorum', 'invalid-field'],
    ['quorum over the members', () => create({ quorum: 2 }), 'quorum', 'quorum-out-of-range'],
    [
      'a Cancel message too large',
      () => command({ type: 'EventGroupCollectorCancel', message: 'm'.repeat(LIMITS.maxErrorBytes + 1) }),
      'message',
      'message-too-large',
    ],
    [
      'a lone surrogate in a Cancel message',
      () => command({ type: 'EventGroupCollectorCancel', message: 'x\udc00' }),
      'message',
      'invalid-field',
    ],
    ['an Extend without ttl', () => command({ type: 'EventGroupCollectorExtend' }), 'ttl', 'invalid-field'],
  ])('refuses %s, naming the field', (_, encode, field, reason) => {
    expect(refusal(encode)).toEqual({ field, reason });
  });

  it('accepts what the collector accepts, at the limits', () => {
    expect(refusal(() => create({ expected: ['a', 'b'], tolerate: 1 }))).toBeUndefined();
    expect(refusal(() => create({ expected: ['a', 'b'], quorum: 1 }))).toBeUndefined();
    expect(
      refusal(() => create({ ttl: 3600, expected: ['a', 'b'], payload: { x: 1 }, replyTo: 'replies.v1' })),
    ).toBeUndefined();
    expect(refusal(() => create({ id: 'x'.repeat(LIMITS.maxIdBytes) }))).toBeUndefined();
    expect(refusal(() => report({ result: { ok: true } }))).toBeUndefined();
    expect(refusal(() => report({ error: 'disk full' }))).toBeUndefined();
  });
});

describe('client commands of issue 20, before the collector acts on them', () => {
  it('createGroup with tolerate or quorum, an invalid cancelGroup and extendGroup are refused before anything is sent', async () => {
    // Prepare: no broker at this address; a refusal never reaches it
    const client = new GroupCollectorClient({ kafka: ['127.0.0.1:1'] });

    // Act
    const refusals = await Promise.all(
      [
        () => client.createGroup({ expected: ['a', 'b'], quorum: 3 }),
        () => client.createGroup({ expected: ['a', 'b'], tolerate: 5 }),
        () => client.cancelGroup('g', 'm'.repeat(LIMITS.maxErrorBytes + 1)),
        () => client.extendGroup('g', 0),
      ].map((call) =>
        call().then(
          () => undefined,
          (error: unknown) =>
            error instanceof ValidationError ? { field: error.field, reason: error.reason } : error,
        ),
      ),
    );
    await client.close();

    // Assess
    expect(refusals).toEqual([
      { field: 'quorum', reason: 'quorum-out-of-range' },
      { field: 'tolerate', reason: 'tolerate-out-of-range' },
      { field: 'message', reason: 'message-too-large' },
      { field: 'ttl', reason: 'invalid-field' },
    ]);
  });
});

describe('client outcomes: a discriminated union', () => {
  const base = { groupId: 'g', createdMs: 0, resolvedMs: 1250, payload: '{"order":7}' };
  const built = {
    success: buildOutcome({ ...base, kind: 'success', results: [['a', '{"x":1}']] }),
    memberError: buildOutcome({
      ...base,
      kind: 'member-failure',
      results: [['a', 'null']],
      entity: 'a',
      error: 'e',
    }),
    timeout: buildOutcome({ ...base, kind: 'timeout', results: [], missing: ['a', 'b'], ttlSeconds: 3 }),
    // Issue 20's fields: errors and missing on a success, reason on every failure, a cancel
    tolerated: buildOutcome({
      ...base,
      kind: 'success',
      results: [['a', '1']],
      errors: [['b', 'disk full']],
      missing: ['c'],
    }),
    reasoned: buildOutcome({
      ...base,
      kind: 'member-failure',
      results: [['a', 'null']],
      entity: 'a',
      error: 'e',
      errors: [['a', 'e']],
      reasons: true,
    }),
    cancelled: buildOutcome({
      ...base,
      kind: 'cancelled',
      results: [],
      error: 'Cancelled: stop',
      missing: ['a'],
    }),
  };

  it('parses what the collector builds, and says why a failure failed', () => {
    // Act
    const [success, memberError, timeout] = [built.success, built.memberError, built.timeout].map((o) =>
      parseOutcome(Buffer.from(o)),
    );

    // Assess
    expect(success).toMatchObject({
      type: 'EventGroupCollectorSuccess',
      results: { a: { x: 1 } },
      payload: { order: 7 },
    });
    expect(describeOutcome(memberError)).toBe('member a failed: e');
    expect(describeOutcome(timeout)).toBe('timed out waiting for a, b');
  });

  it('reads issue 20\u2019s fields: errors and missing on a success, reason on a failure, a cancel', () => {
    // Act
    const [tolerated, reasoned, cancelled] = [built.tolerated, built.reasoned, built.cancelled].map((o) =>
      parseOutcome(o),
    );

    // Assess
    expect(tolerated).toEqual({
      type: 'EventGroupCollectorSuccess',
      id: 'g',
      created: '1970-01-01T00:00:00.000Z',
      resolved: '1970-01-01T00:00:01.250Z',
      results: { a: 1 },
      errors: { b: 'disk full' },
      missing: ['c'],
      payload: { order: 7 },
    });
    expect(reasoned).toMatchObject({ reason: 'member-error', errors: { a: 'e' } });
    expect(describeOutcome(reasoned)).toBe('member a failed: e');
    expect(cancelled).toMatchObject({ reason: 'cancelled', entity: 'g', missing: ['a'] });
    expect(describeOutcome(cancelled)).toBe('Cancelled: stop; never reported: a');
  });

  it('uses the collector\u2019s `reason` when present', () => {
    const cancelled = JSON.stringify({ ...JSON.parse(built.memberError), reason: 'cancelled' });
    const newer = JSON.stringify({ ...JSON.parse(built.memberError), reason: 'a-reason-from-the-future' });
    expect(parseOutcome(cancelled)).toMatchObject({
      reason: 'cancelled',
      cause: { kind: 'cancelled', error: 'e', missing: [] },
    });
    expect(parseOutcome(newer)).toMatchObject({
      reason: 'a-reason-from-the-future',
      cause: { kind: 'other', reason: 'a-reason-from-the-future', error: 'e' },
    });
    expect(failureCause({ entity: 'g', error: 'too big', reason: 'outcome-too-large' })).toEqual({
      kind: 'other',
      reason: 'outcome-too-large',
      error: 'too big',
    });
    expect(failureCause({ entity: 'g', error: 't', missing: ['a'], reason: 'timeout' })).toEqual({
      kind: 'timeout',
      missing: ['a'],
    });
  });

  it('ignores inputs and anything else on the topic', () => {
    expect(
      parseOutcome(Buffer.from('{"type":"EventGroupCollectorCreate","id":"g","expected":["a"]}')),
    ).toBeUndefined();
    expect(parseOutcome(Buffer.from('not json "EventGroupCollectorSuccess"'))).toBeUndefined();
    expect(parseOutcome(Buffer.from('{"type":"EventGroupCollectorSuccess","id":"g"}'))).toBeUndefined();
    expect(parseOutcome(null)).toBeUndefined();
  });

  it('agrees with the AsyncAPI document: every wire field the client types is in the published schema', () => {
    // Prepare
    const doc = JSON.parse(readFileSync(asyncApiPath, 'utf8'));
    const schema = (name: string) => doc.components.messages[name].payload as { properties: object };
    const ajv = new Ajv({ strict: false, validateFormats: false });

    // Act
    const parsed = Object.values(built).map((o) => parseOutcome(o) as Outcome);
    const wire = parsed.map(({ cause: _, ...rest }: Outcome & { cause?: unknown }) => rest);

    // Assess
    for (const outcome of wire) {
      const payload = schema(outcome.type);
      expect(ajv.validate(payload, outcome), JSON.stringify(ajv.errors)).toBe(true);
      for (const key of Object.keys(outcome)) expect(Object.keys(payload.properties)).toContain(key);
    }
  });
});

describe('the client\u2019s bounded buffer', () => {
  it('keeps at most maxEntries, the most recently used, and reports each eviction', () => {
    // Prepare
    const evicted: string[] = [];
    const lru = new BoundedLru<string, number>(
      3,
      Number.POSITIVE_INFINITY,
      () => 0,
      (k) => evicted.push(k),
    );

    // Act
    for (const k of ['a', 'b', 'c']) lru.set(k, 1);
    lru.get('a');
    for (let i = 0; i < 1000; i++) lru.set(`k${i}`, i);

    // Assess
    expect(lru.size).toBe(3);
    expect(evicted.slice(0, 2)).toEqual(['b', 'c']);
    expect(lru.get('k999')).toBe(999);
  });

  it('keeps the total weight under its bound (the newest entry stays even alone over it)', () => {
    const lru = new BoundedLru<string, string>(100, 10, (v) => v.length);
    lru.set('a', '12345');
    lru.set('b', '12345');
    lru.set('c', '123');
    expect([lru.size, lru.totalWeight]).toEqual([2, 8]);
    lru.set('big', 'x'.repeat(50));
    expect([lru.size, lru.totalWeight]).toEqual([1, 50]);
  });
});

function describeOutcome(outcome: Outcome | undefined): string {
  if (!outcome) return 'none';
  if (outcome.type === 'EventGroupCollectorSuccess') return 'success';
  switch (outcome.cause.kind) {
    case 'member-error':
      return `member ${outcome.cause.entity} failed: ${outcome.cause.error}`;
    case 'timeout':
      return `timed out waiting for ${outcome.cause.missing.join(', ')}`;
    case 'cancelled':
      return `${outcome.cause.error}; never reported: ${outcome.cause.missing.join(', ')}`;
    case 'other':
      return `failed (${outcome.cause.reason}): ${outcome.cause.error}`;
  }
}
