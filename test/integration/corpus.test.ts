/**
 * Guarantee 6 on the real services: the bad-input corpus (test/fixtures/bad-inputs.ts),
 * produced to Kafka interleaved with a valid group and consumed through the local Kafka
 * event source mapping. Each bad record lands on the dead-letter topic with the right
 * reason and its original bytes (or is ignored, for outcome types), the valid group
 * succeeds, and the partition keeps flowing (no retries, nothing discarded).
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopics } from '#local/services/index.ts';
import { DLQ_HEADERS, EVENT_TYPES } from '#shared/config.ts';
import { type BadInput, badInputs, bind } from '../fixtures/bad-inputs.ts';
import {
  type Harness,
  inputRecordIds,
  readToEnd,
  recordId,
  startHarness,
  type TopicMessage,
  waitUntil,
} from '../fixtures/harness.ts';
import { services } from '../helpers/services.ts';

describe('guarantee 6: the bad-input corpus never blocks the partition', () => {
  const suffix = randomUUID().slice(0, 8);
  const topics = {
    input: `corpus-input-${suffix}`,
    outcomes: `corpus-outcomes-${suffix}`,
    dlq: `corpus-dlq-${suffix}`,
    esmFailure: `corpus-esm-failures-${suffix}`,
  };
  const group = `corpus-group-${suffix}`;
  const noGroup = `corpus-never-${suffix}`;
  let harness: Harness;

  beforeAll(async () => {
    await createTopics(services().brokers, [
      { name: topics.input, partitions: 1 },
      { name: topics.outcomes, partitions: 1 },
      { name: topics.dlq, partitions: 1 },
      { name: topics.esmFailure, partitions: 1 },
    ]);
    harness = await startHarness({
      services: services(),
      inputTopics: [topics.input],
      // Reports of unknown groups wait 3 s (not 600) before `group-never-created`.
      settings: { outcomeTopic: topics.outcomes, deadLetterTopic: topics.dlq, earlyReportWaitSeconds: 3 },
      onFailureTopic: topics.esmFailure,
    });
  });
  afterAll(async () => {
    await harness?.stop();
  });

  it('every bad record is dead-lettered with its reason and original bytes, outcome types are ignored, the valid group succeeds', async () => {
    // Prepare: the valid group's Create first, then the corpus with its reports inside and at the end
    const corpus = badInputs();
    const report = (id: string) =>
      Buffer.from(JSON.stringify({ id, type: EVENT_TYPES.done, group, result: { id } }));
    type Sent = { value: Buffer | null; key?: Buffer; headers?: Record<string, string>; bad?: BadInput };
    const sequence: Sent[] = [
      {
        value: Buffer.from(
          JSON.stringify({ id: group, type: EVENT_TYPES.create, expected: ['a', 'b', 'c'], ttl: 600 }),
        ),
      },
    ];
    corpus.forEach((bad, i) => {
      if (i === 40) sequence.push({ value: report('a') });
      if (i === 100) sequence.push({ value: report('b') });
      sequence.push({ value: bind(bad.value, group, noGroup), key: bad.key, headers: bad.headers, bad });
    });
    // The last report last: a bad report for a group already decided is ignored as late (guarantee 7).
    sequence.push({ value: report('c') });
    const producer = new Kafka({ brokers: services().brokers, logLevel: logLevel.NOTHING }).producer({
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();

    // Act: one record per send (a record batch over 1 MiB would be refused by the broker)
    for (const [i, s] of sequence.entries()) {
      await producer.send({
        topic: topics.input,
        acks: -1,
        messages: [{ value: s.value, key: s.key ?? null, headers: s.headers }],
      });
      if (i === 0) await waitUntil('the Create', () => harness.ledger.byRecord.size > 0, 30_000);
    }
    await producer.disconnect();
    const ids = await inputRecordIds(services().brokers, [topics.input]);
    const deadCount = corpus.filter((c) => 'dead' in c.expect).length;
    const dlqSeen = async () =>
      (await readToEnd(services().brokers, topics.dlq)).filter(
        (m) => m.headers[DLQ_HEADERS.topic]?.toString() === topics.input,
      ).length;
    await waitUntil('every record applied', () => ids.every((id) => harness.ledger.final(id)), 60_000);
    // Not fatal: the detailed checks below say which dead letters are missing.
    await waitUntil('every dead letter', async () => (await dlqSeen()) >= deadCount, 30_000).catch(() => {});
    const [allDeadLetters, outcomes, esmFailures] = await Promise.all([
      readToEnd(services().brokers, topics.dlq),
      readToEnd(services().brokers, topics.outcomes),
      readToEnd(services().brokers, topics.esmFailure),
    ]);
    const stats = harness.kafkaStats();
    // The sweeper sweeps the whole shared table: it may dead-letter another test's expired early report here.
    const deadLetters = allDeadLetters.filter(
      (m) => m.headers[DLQ_HEADERS.topic]?.toString() === topics.input,
    );

    // Assess: the corpus is as large as promised
    expect(corpus.length).toBeGreaterThanOrEqual(150);
    expect(ids).toHaveLength(sequence.length);
    // Assess: each bad record, by its offset
    const byOffset = new Map<string, TopicMessage[]>();
    for (const m of deadLetters) {
      const offset = m.headers[DLQ_HEADERS.offset]?.toString() ?? '';
      byOffset.set(offset, [...(byOffset.get(offset) ?? []), m]);
    }
    const wrong: string[] = [];
    sequence.forEach((s, offset) => {
      const final = harness.ledger.final(recordId(topics.input, 0, offset));
      const letters = byOffset.get(String(offset)) ?? [];
      if (!s.bad) {
        if (final?.status !== 'accepted' || letters.length > 0)
          wrong.push(`valid record ${offset}: ${JSON.stringify(final)}`);
        return;
      }
      const name = `${offset} ${s.bad.name}`;
      if ('ignored' in s.bad.expect) {
        if (final?.status !== 'ignored' || final.reason !== 'outcome-type')
          wrong.push(`${name}: ${JSON.stringify(final)}`);
        if (letters.length > 0) wrong.push(`${name}: dead-lettered`);
        return;
      }
      const reason = s.bad.expect.dead;
      const expectedFinal = reason === 'group-never-created' ? 'accepted:early' : `dead:${reason}`;
      const gotFinal = final
        ? `${final.status}:${final.status === 'accepted' ? final.action : final.reason}`
        : 'none';
      if (gotFinal !== expectedFinal)
        wrong.push(`${name}: handler said ${gotFinal}, expected ${expectedFinal}`);
      if (letters.length !== 1) {
        wrong.push(`${name}: ${letters.length} dead letters`);
        return;
      }
      const letter = letters[0] as TopicMessage;
      const got = letter.headers[DLQ_HEADERS.reason]?.toString();
      if (got !== reason) wrong.push(`${name}: reason ${got}, expected ${reason}`);
      if (!letter.value.equals(s.value ?? Buffer.alloc(0))) wrong.push(`${name}: value bytes differ`);
      if ((letter.key ?? '') !== (s.key?.toString() ?? '')) wrong.push(`${name}: key differs`);
      if (letter.headers[DLQ_HEADERS.topic]?.toString() !== topics.input) wrong.push(`${name}: source topic`);
      if (letter.headers[DLQ_HEADERS.partition]?.toString() !== '0') wrong.push(`${name}: source partition`);
      if (!letter.headers[DLQ_HEADERS.message]?.length) wrong.push(`${name}: no message header`);
      for (const [k, v] of Object.entries(s.headers ?? {})) {
        if (letter.headers[k]?.toString() !== v) wrong.push(`${name}: header ${k} lost`);
      }
    });
    expect(wrong).toEqual([]);
    expect(deadLetters).toHaveLength(deadCount);
    // Assess: the valid group succeeded, once
    expect(outcomes.map((o) => o.key)).toEqual([group]);
    expect(JSON.parse(outcomes[0]?.value.toString() ?? '{}')).toMatchObject({
      type: EVENT_TYPES.success,
      results: { a: { id: 'a' }, b: { id: 'b' }, c: { id: 'c' } },
    });
    // Assess: the partition flowed: no failed invocation, no retry, nothing discarded, all committed
    expect(stats).toMatchObject({ failedInvocations: 0, retries: 0, recordsDiscarded: 0 });
    expect(stats.committed[`${topics.input}-0`]).toBe(sequence.length);
    expect(esmFailures).toEqual([]);
    console.log(
      `[corpus] ${corpus.length} bad records (${deadCount} dead-lettered, ${corpus.length - deadCount} ignored) + 4 valid; ${stats.invocations} invocations`,
    );
  }, 120_000);
});
