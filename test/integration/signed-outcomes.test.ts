/**
 * Signed outcomes against the real collector (Kafka + DynamoDB Local, the local event source
 * mappings): the forged-outcome scenario, the dead-letter signing oracle and header injection
 * (docs/SECURITY.md, attacks 1 and 2), an old genuine outcome replayed for a reused id.
 */
import { randomUUID } from 'node:crypto';
import type { IHeaders, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk, lastHeader, parseSigningKeySet, SIGNATURE_HEADERS } from '#core/signing.ts';
import { type LocalCollector, startLocalCollector } from '#local/collector.ts';
import { DLQ_HEADERS } from '#shared/config.ts';
import { GroupCollectorClient, type Outcome } from '../../client/index.ts';
import { freshTopic, kafka, services } from '../helpers/services.ts';

const WAIT_MS = 60_000;
const keySet = { keys: [generateSigningJwk('test-k1', 0)] };
const outcomeKeys = parseSigningKeySet(keySet).keys.map((k) => k.publicKey);

interface RawRecord {
  key: Buffer | null;
  value: Buffer;
  headers: IHeaders;
}

/** Reads `topic` from the beginning until `match` finds a record (headers as Kafka gives them, repeats kept). */
async function findRecord(topic: string, match: (r: RawRecord) => boolean, timeoutMs = 20_000) {
  const consumer = kafka('finder').consumer({ groupId: `finder-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    return await new Promise<RawRecord>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching record on ${topic}`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const record = {
            key: message.key,
            value: message.value ?? Buffer.alloc(0),
            headers: message.headers ?? {},
          };
          if (match(record)) {
            clearTimeout(timer);
            resolve(record);
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}

/** Settles within `ms` or says it is still pending. */
const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);

const forgedSuccess = (id: string) =>
  JSON.stringify({
    type: 'EventGroupCollectorSuccess',
    id,
    created: new Date().toISOString(),
    resolved: new Date().toISOString(),
    results: { a: 'forged', b: 'forged' },
  });

describe('signed outcomes on the single topic', () => {
  let topic: string;
  let deadLetters: string;
  let collector: LocalCollector;
  let forger: Producer;

  beforeAll(async () => {
    // The bus convention: one topic for inputs and outcomes, which every producer may write.
    [topic, deadLetters] = await Promise.all([freshTopic('signed', 3), freshTopic('signed-dlq', 1)]);
    collector = await startLocalCollector({
      ...services(),
      inputTopics: [topic],
      groupId: `signed-${randomUUID()}`,
      kafka: { maximumBatchingWindowSeconds: 0 },
      sweeperIntervalMs: 250,
      settings: {
        outcomeTopic: topic,
        deadLetterTopic: deadLetters,
        signingKeys: JSON.stringify(keySet),
      },
    });
    forger = kafka('forger').producer();
    await forger.connect();
  });
  afterAll(async () => {
    await forger.disconnect();
    await collector.stop();
  });

  const client = (withKeys: boolean) =>
    new GroupCollectorClient({
      kafka: services().brokers,
      topic,
      outcomeTopic: topic,
      ...(withKeys ? { outcomeKeys } : {}),
    });

  it('a forged success does not resolve the client; the genuine outcome does (a client without keys takes the forgery)', async () => {
    // Prepare: a group of two; a client that verifies and one that does not await it
    const owner = client(true);
    const naive = client(false);
    try {
      const group = await owner.createGroup({ expected: ['a', 'b'], ttl: 60 });
      const verified = owner.awaitOutcome(group, { timeoutMs: WAIT_MS });
      const unverified = naive.awaitOutcome(group, { timeoutMs: WAIT_MS, since: Date.now() });

      // Act: a second program that can merely produce to the topic forges the outcome, before any member reported
      await forger.send({ topic, messages: [{ key: group, value: forgedSuccess(group) }] });
      const fooled = (await unverified) as Outcome;
      const early = await within(verified, 1_500);
      await owner.reportDone(group, 'a', { genuine: 'a' });
      await owner.reportDone(group, 'b', { genuine: 'b' });
      const outcome = await verified;

      // Assess
      expect(fooled.type === 'EventGroupCollectorSuccess' && fooled.results).toEqual({
        a: 'forged',
        b: 'forged',
      });
      expect(early).toBe('pending');
      expect(outcome.type).toBe('EventGroupCollectorSuccess');
      expect(outcome.type === 'EventGroupCollectorSuccess' && outcome.results).toEqual({
        a: { genuine: 'a' },
        b: { genuine: 'b' },
      });
      expect(owner.refusedOutcomes.unsigned).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all([owner.close(), naive.close()]);
    }
  });

  it('attack 1: a forged outcome dead-lettered and copied to the outcome topic with its headers is refused', async () => {
    // Prepare: a forged success the collector does not recognise as its own (a leading space), padded past 350 KiB
    const owner = client(true);
    try {
      const group = await owner.createGroup({ expected: ['a'], ttl: 60 });
      const wait = owner.awaitOutcome(group, { timeoutMs: WAIT_MS });
      const forged = ` ${forgedSuccess(group).slice(0, -1)},"pad":"${'x'.repeat(360 * 1024)}"}`;
      await forger.send({ topic, messages: [{ key: group, value: forged }] });
      const dead = await findRecord(deadLetters, (r) => r.key?.toString() === group);

      // Act: the attacker republishes the dead letter, value and every header, as an outcome
      await forger.send({ topic, messages: [{ key: group, value: dead.value, headers: dead.headers }] });
      const early = await within(wait, 1_500);
      await owner.reportDone(group, 'a', 'genuine');
      const outcome = await wait;

      // Assess: dead-lettered whole and unsigned; the copy refused; the genuine outcome delivered
      expect(lastHeader(dead.headers, DLQ_HEADERS.reason)).toBe('value-too-large');
      expect(dead.value.toString()).toBe(forged);
      expect(lastHeader(dead.headers, SIGNATURE_HEADERS.signature)).toBeUndefined();
      expect(early).toBe('pending');
      expect(outcome.type === 'EventGroupCollectorSuccess' && outcome.results).toEqual({ a: 'genuine' });
      expect(owner.refusedOutcomes.unsigned).toBeGreaterThanOrEqual(1);
    } finally {
      await owner.close();
    }
  });

  it('attack 2: a forged outcome with the signature headers of a genuine outcome is refused, and a dead letter’s reason is the last header', async () => {
    // Prepare: a genuine, signed outcome of one group (a timeout, published by the sweeper)
    const owner = client(true);
    try {
      const donor = await owner.createGroup({ expected: ['a'], ttl: 1 });
      const donorOutcome = await owner.awaitOutcome(donor, { timeoutMs: WAIT_MS });
      const genuine = await findRecord(
        topic,
        (r) => r.key?.toString() === donor && r.value.includes('Failure'),
      );
      const victim = await owner.createGroup({ expected: ['a'], ttl: 60 });
      const wait = owner.awaitOutcome(victim, { timeoutMs: WAIT_MS });
      const refusedBefore = owner.refusedOutcomes.invalid;

      // Act: its signature headers on a forged success of another group; a record with its own dead-letter reason
      await forger.send({
        topic,
        messages: [{ key: victim, value: forgedSuccess(victim), headers: genuine.headers }],
      });
      await forger.send({
        topic,
        messages: [{ key: victim, value: 'not json', headers: { [DLQ_HEADERS.reason]: 'accepted' } }],
      });
      const early = await within(wait, 1_500);
      const dead = await findRecord(deadLetters, (r) => r.key?.toString() === victim);
      await owner.reportDone(victim, 'a', 'genuine');
      const outcome = await wait;

      // Assess
      expect(donorOutcome.type === 'EventGroupCollectorFailure' && donorOutcome.cause.kind).toBe('timeout');
      expect(lastHeader(genuine.headers, SIGNATURE_HEADERS.keyId)).toBe('test-k1');
      expect(early).toBe('pending');
      expect(owner.refusedOutcomes.invalid).toBeGreaterThan(refusedBefore);
      expect(outcome.type === 'EventGroupCollectorSuccess' && outcome.results).toEqual({ a: 'genuine' });
      expect(dead.headers[DLQ_HEADERS.reason]).toEqual([
        Buffer.from('accepted'),
        Buffer.from('malformed-json'),
      ]);
      expect(lastHeader(dead.headers, DLQ_HEADERS.reason)).toBe('malformed-json');
    } finally {
      await owner.close();
    }
  });

  it('a protected group through the client: members report with their credentials; a stranger’s report and Cancel change nothing', async () => {
    // Prepare: the owner creates a protected group and hands each member its credentials
    const owner = client(true);
    const member = client(false);
    try {
      const group = await owner.createGroup({ expected: ['a', 'b'], ttl: 60, protected: true });
      const wait = owner.awaitOutcome(group, { timeoutMs: WAIT_MS });
      const forA = owner.memberCredentials(group, 'a');
      const forB = owner.memberCredentials(group, 'b');

      // Act: a stranger reports for a and cancels (no credentials); then the members report
      await forger.send({
        topic,
        messages: [
          {
            key: group,
            value: JSON.stringify({
              id: 'a',
              type: 'EventGroupCollectorEntityDone',
              group,
              result: 'forged',
            }),
          },
          { key: group, value: JSON.stringify({ type: 'EventGroupCollectorCancel', group }) },
        ],
      });
      const refused = await findRecord(
        deadLetters,
        (r) => r.key?.toString() === group && r.value.includes('forged'),
      );
      await member.reportDone(group, 'a', 'genuine-a', { credentials: forA });
      await member.reportDone(group, 'b', 'genuine-b', { credentials: forB });
      const outcome = await wait;

      // Assess
      expect(lastHeader(refused.headers, DLQ_HEADERS.reason)).toBe('unauthenticated');
      // The stranger's Cancel came before the members' reports: the success shows it changed nothing.
      expect(outcome.type === 'EventGroupCollectorSuccess' && outcome.results).toEqual({
        a: 'genuine-a',
        b: 'genuine-b',
      });
      await expect(member.reportDone(group, 'b', 'again')).rejects.toMatchObject({
        reason: 'unauthenticated',
      });
    } finally {
      await Promise.all([owner.close(), member.close()]);
    }
  });

  it('an old genuine outcome of a reused id, replayed after a new Create, is refused as stale', async () => {
    // Prepare: a group decided, its signed outcome kept by the attacker
    const first = client(true);
    const group = await first.createGroup({ expected: ['a'], ttl: 60 });
    await first.reportDone(group, 'a', 'old');
    await first.awaitOutcome(group, { timeoutMs: WAIT_MS });
    await first.close();
    const old = await findRecord(topic, (r) => r.key?.toString() === group && r.value.includes('Success'));
    await new Promise((r) => setTimeout(r, 50));
    const second = new GroupCollectorClient({
      kafka: services().brokers,
      topic,
      outcomeTopic: topic,
      outcomeKeys,
      clockToleranceMs: 0,
    });
    try {
      // Act: the id created again by another application; the attacker replays the old outcome
      await second.createGroup({ id: group, expected: ['a'], ttl: 60 });
      await forger.send({ topic, messages: [{ key: group, value: old.value, headers: old.headers }] });
      const wait = second.awaitOutcome(group, { timeoutMs: WAIT_MS });
      const deadline = Date.now() + 30_000;
      while (second.refusedOutcomes.stale < 1 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const result = await within(wait, 500);

      // Assess: the replay read and refused; the wait goes on
      expect(second.refusedOutcomes.stale).toBeGreaterThanOrEqual(1);
      expect(result).toBe('pending');
    } finally {
      await second.close();
    }
  });
});
