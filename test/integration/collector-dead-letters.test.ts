import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS, LIMITS } from '#shared/config.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';

const json = (value: unknown) => JSON.stringify(value);
const group = newGroupId();
const conflictGroup = newGroupId();
const create = (id: string, expected: unknown, extra: Record<string, unknown> = {}) =>
  json({ id, type: 'EventGroupCollectorCreate', expected, ...extra });
const done = (g: string, id: string, extra: Record<string, unknown> = {}) =>
  json({ id, type: 'EventGroupCollectorEntityDone', group: g, ...extra });

/** One record per dead-letter reason; `setup` records are applied first and must not be dead-lettered. */
const setup = [create(group, ['a', 'b'], { ttl: 300 }), create(conflictGroup, ['a'], { ttl: 300 })];
const cases: [reason: string, value: string | Buffer | null][] = [
  ['malformed-json', '{"id":"x","type":'],
  ['malformed-json', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
  ['not-an-object', '[1,2,3]'],
  ['not-an-object', '"just a string"'],
  ['unknown-type', json({ id: 'x', type: 'SomethingElse' })],
  ['invalid-field', json({ id: 'x' })],
  ['invalid-field', json({ id: 7, type: 'EventGroupCollectorCreate', expected: ['a'] })],
  ['invalid-field', json({ id: 'x', type: 'EventGroupCollectorEntityDone' })],
  ['invalid-field', done(group, 'a', { error: '' })],
  ['invalid-field', create('x', ['a'], { ttl: 1.5 })],
  ['empty-expected', create('x', [])],
  ['duplicate-expected', create('x', ['a', 'a'])],
  [
    'too-many-members',
    create(
      'x',
      Array.from({ length: LIMITS.maxMembers + 1 }, (_, i) => `m${i}`),
    ),
  ],
  ['id-too-long', create('x'.repeat(LIMITS.maxIdBytes + 1), ['a'])],
  ['ttl-out-of-range', create('x', ['a'], { ttl: LIMITS.maxTtlSeconds + 1 })],
  ['payload-too-large', create('x', ['a'], { payload: 'p'.repeat(LIMITS.maxPayloadBytes + 1) })],
  ['result-too-large', done(group, 'a', { result: 'r'.repeat(LIMITS.maxResultBytes + 1) })],
  ['value-too-large', Buffer.alloc(LIMITS.maxInputBytes + 1, 0x20)],
  ['empty-value', null],
  ['member-not-expected', done(group, 'stranger', { result: 1 })],
  ['create-conflict', create(conflictGroup, ['a', 'b'], { ttl: 300 })],
];

describe('every dead-letter reason, on the real services', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(() => runtime.close());

  it('dead-letters each bad record with its reason and original bytes, and the batch still succeeds', async () => {
    // Prepare
    const records = [
      ...setup.map((value, i) => ({ partition: 0, offset: i, value })),
      ...cases.map(([, value], i) => ({ partition: 1, offset: 1000 + i, key: `case-${i}`, value })),
      { partition: 1, offset: 5000, value: done(group, 'a', { result: 'fine' }) },
    ];

    // Act
    const response = await processKafkaEvent(kafkaEvent(records), runtime);
    const dead = await drainTopic(runtime.settings.deadLetterTopic);
    const state = await runtime.store.getState(group);
    const member = await runtime.store.readReport(group, 'a');

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(dead).toHaveLength(cases.length);
    cases.forEach(([reason, value], i) => {
      const letter = dead.find((m) => m.key === `case-${i}`);
      expect(letter, `case ${i} (${reason})`).toBeDefined();
      expect(letter?.headers[DLQ_HEADERS.reason], `case ${i}`).toBe(reason);
      expect(letter?.headers[DLQ_HEADERS.message]?.length).toBeGreaterThan(0);
      expect(letter?.headers[DLQ_HEADERS.offset]).toBe(String(1000 + i));
      expect(letter?.headers[DLQ_HEADERS.partition]).toBe('1');
      if (value !== null && !Buffer.isBuffer(value)) expect(letter?.value).toBe(value);
    });
    expect(state?.status).toBe('open');
    expect(member?.result).toBe('"fine"');
  });
});

describe('payloads stay out of the logs by default', () => {
  const marker = 'PII-4111-1111-1111-1111';
  const secretGroup = newGroupId();
  const records = () => [
    {
      partition: 0,
      offset: 1,
      value: create(secretGroup, ['a', 'b'], { ttl: 300, payload: { card: marker } }),
    },
    { partition: 0, offset: 2, value: done(secretGroup, 'a', { result: { card: marker } }) },
    { partition: 0, offset: 3, key: 'bad-json', value: `{"id":"x","card":"${marker}` },
    { partition: 0, offset: 4, key: 'bad-field', value: json({ id: 7, type: 'Nope', card: marker }) },
    { partition: 0, offset: 5, key: 'stranger', value: done(secretGroup, 'z', { result: { card: marker } }) },
  ];
  /** Every argument given to the runtime's logger, as one string per call. */
  const capture = (runtime: Awaited<ReturnType<typeof testRuntime>>) => {
    const lines: string[] = [];
    for (const level of ['debug', 'info', 'warn', 'error', 'critical'] as const) {
      const original = runtime.logger[level].bind(runtime.logger);
      runtime.logger[level] = ((...args: unknown[]) => {
        lines.push(JSON.stringify(args, (_k, v) => (v instanceof Error ? `${v.name}: ${v.message}` : v)));
        return (original as (...a: unknown[]) => void)(...args);
      }) as never;
    }
    return lines;
  };
  const leaks = (lines: string[]) =>
    lines.filter(
      (l) => l.includes(marker) || l.includes(Buffer.from(marker).toString('base64').slice(0, 20)),
    );

  it('logs the dead letters of a batch without their values, and with them when COLLECTOR_LOG_PAYLOADS is set', async () => {
    // Prepare: one runtime with the default settings, one with logPayloads
    const quiet = await testRuntime();
    const verbose = await testRuntime({ logPayloads: true });
    try {
      const quietLines = capture(quiet);
      const verboseLines = capture(verbose);

      // Act
      const quietOut = await processKafkaEvent(kafkaEvent(records()), quiet);
      const verboseOut = await processKafkaEvent(
        kafkaEvent(records().map((r) => ({ ...r, offset: r.offset + 100 }))),
        verbose,
      );

      // Assess: the same three dead letters were logged both times, the values only when asked
      expect(quietOut.batchItemFailures).toEqual([]);
      expect(verboseOut.batchItemFailures).toEqual([]);
      const deadLines = (lines: string[]) => lines.filter((l) => l.includes('record dead-lettered'));
      expect(deadLines(quietLines)).toHaveLength(3);
      expect(deadLines(verboseLines)).toHaveLength(3);
      expect(leaks(quietLines)).toEqual([]);
      expect(leaks(deadLines(verboseLines))).toHaveLength(3);
    } finally {
      await quiet.close();
      await verbose.close();
    }
  });
});
