/**
 * An outcome's signature is stored with its decision (docs/SECURITY.md, "Signed outcomes"): every copy
 * (the TTL stream handler's, a redelivery's, the sweeper's) carries the same bytes and headers, after
 * a key rotation that removed the key that signed it too. On the real services (Kafka, DynamoDB Local).
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateSigningJwk,
  parseOutcomeKeys,
  parseSigningKeySet,
  SIGNATURE_HEADERS,
  type SigningJwk,
  verifyOutcome,
} from '#core/signing.ts';
import { PublishError, type Publisher } from '#publish/publisher.ts';
import { loadSettings } from '#shared/config.ts';
import { createRuntime, kafkaPublisher, type Runtime } from '#shared/runtime.ts';
import { keys } from '#store/layout.ts';
import { sweepOnce } from '../../functions/sweeper/handler.ts';
import { processStreamEvent } from '../../functions/timeouts/handler.ts';
import {
  deliverRecords,
  drainTopic,
  newGroupId,
  type ReadMessage,
  type TestRecord,
  ttlRemoval,
} from '../helpers/collector.ts';
import { dynamoClient, freshTable, freshTopic, services } from '../helpers/services.ts';

const oldKey = generateSigningJwk('rotation-old', 0);
const newKey = generateSigningJwk('rotation-new', 0);
const trusted = parseOutcomeKeys(parseSigningKeySet({ keys: [oldKey, newKey] }).keys.map((k) => k.publicKey));

/** A collector runtime on `table` signing with `keySet`; `failing.outcomes` makes its outcome publishes fail. */
function runtimeWith(
  keySet: SigningJwk[],
  where: { tableName: string; outcomeTopic: string; deadLetterTopic: string },
  singleItemMembers: number | undefined,
  failing = { outcomes: false },
) {
  const kafka = kafkaPublisher({ clientId: 'signed-republish', brokers: services().brokers });
  const publisher: Publisher = {
    publish: async (messages) => {
      if (failing.outcomes && messages.some((m) => m.outcome)) throw new PublishError('broker unreachable');
      return kafka.publish(messages);
    },
    disconnect: () => kafka.disconnect(),
  };
  const dynamo = dynamoClient();
  const runtime = createRuntime({
    settings: {
      ...loadSettings({}),
      kafkaBrokers: services().brokers,
      ...where,
      signingKeys: JSON.stringify({ keys: keySet }),
    },
    dynamo,
    publisher,
    functionName: 'signed-republish',
    ...(singleItemMembers === undefined ? {} : { singleItemMembers }),
  });
  runtime.logger.setLogLevel('SILENT');
  return {
    runtime,
    failing,
    async close() {
      await publisher.disconnect();
      dynamo.destroy();
    },
  };
}

const groupRecords = (group: string): TestRecord[] => [
  { value: JSON.stringify({ id: group, type: 'EventGroupCollectorCreate', expected: ['a', 'b'], ttl: 600 }) },
  { value: JSON.stringify({ id: 'a', type: 'EventGroupCollectorEntityDone', group, result: { n: 1 } }) },
  { value: JSON.stringify({ id: 'b', type: 'EventGroupCollectorEntityDone', group, result: { n: 2 } }) },
];

/** The stream event of TTL removing `group`'s decided STATE as it is stored, its outcome unpublished. */
async function unpublishedRemoval(runtime: Runtime, group: string) {
  const { Item } = await runtime.store.doc.send(
    new GetCommand({ TableName: runtime.settings.tableName, Key: keys.state(group), ConsistentRead: true }),
  );
  const { published: _published, publishedMs: _publishedMs, ...unpublished } = Item ?? {};
  return ttlRemoval(marshall(unpublished, { removeUndefinedValues: true }));
}

const headersOf = (m: ReadMessage) => ({
  keyId: m.headers[SIGNATURE_HEADERS.keyId],
  signature: m.headers[SIGNATURE_HEADERS.signature],
});

describe.each([
  ['a small group (its outcome kept in STATE)', undefined],
  ['a larger group (its outcome built again from its pages)', 0],
])('the signature is stored with the decision: %s', (_, singleItemMembers) => {
  let where: { tableName: string; outcomeTopic: string; deadLetterTopic: string };
  let before: ReturnType<typeof runtimeWith>;
  let after: ReturnType<typeof runtimeWith>;

  beforeAll(async () => {
    const [table, outcomeTopic, deadLetterTopic] = await Promise.all([
      freshTable('signed-republish'),
      freshTopic('signed-republish-out', 1),
      freshTopic('signed-republish-dlq', 1),
    ]);
    where = { tableName: table.tableName, outcomeTopic, deadLetterTopic };
    // The collector before the rotation signs with the old key; after it, the old key is gone from the set.
    before = runtimeWith([oldKey], where, singleItemMembers);
    after = runtimeWith([newKey], where, singleItemMembers);
  });
  afterAll(async () => {
    await Promise.all([before.close(), after.close()]);
  });

  it('a copy republished by the TTL stream handler after the old key was removed carries the first copy’s bytes and headers', async () => {
    // Prepare: a group decided and published by the collector before the rotation
    const group = newGroupId();
    const decided = await deliverRecords(before.runtime, groupRecords(group));
    const [first] = (await drainTopic(where.outcomeTopic)).filter((m) => m.key === group);

    // Act: TTL removes its STATE as if its outcome was never published; the rotated collector republishes
    const response = await processStreamEvent(await unpublishedRemoval(after.runtime, group), after.runtime);
    const copies = (await drainTopic(where.outcomeTopic)).filter((m) => m.key === group);

    // Assess
    expect(decided.failures.batchItemFailures).toEqual([]);
    expect(response.batchItemFailures).toEqual([]);
    expect(first && headersOf(first).keyId).toBe(oldKey.kid);
    expect(copies).toHaveLength(2);
    for (const copy of copies) {
      expect(copy.value).toBe(first?.value);
      expect(headersOf(copy)).toEqual(first && headersOf(first));
      const record = { topic: where.outcomeTopic, key: group, value: Buffer.from(copy.value) };
      expect(verifyOutcome(trusted, { ...record, headers: copy.headers })).toBe('valid');
    }
  });

  it('an outcome whose first publish failed goes out, from a redelivery or the sweeper after the rotation, signed by the decision’s key', async () => {
    // Prepare: two groups decided before the rotation whose publishes failed (decisions stored, leases given back)
    const [redelivered, swept] = [newGroupId(), newGroupId()];
    before.failing.outcomes = true;
    const failed = await Promise.all(
      [redelivered, swept].map((group) =>
        deliverRecords(before.runtime, groupRecords(group)).then(
          () => 'published',
          (error: Error) => error.name,
        ),
      ),
    );
    before.failing.outcomes = false;
    const stored = await after.runtime.store.getStates([redelivered, swept]);

    // Act: the rotated collector gets the last report again; its sweeper runs once the publish leases lapsed
    await deliverRecords(after.runtime, groupRecords(redelivered).slice(2));
    await sweepOnce(after.runtime, () => Date.now() + 10 * 60_000);
    const copies = (await drainTopic(where.outcomeTopic)).filter(
      (m) => m.key === redelivered || m.key === swept,
    );

    // Assess
    expect(failed).toEqual(['BatchFailedError', 'BatchFailedError']);
    expect(copies.map((m) => m.key).sort()).toEqual([redelivered, swept].sort());
    for (const copy of copies) {
      const state = stored.get(copy.key ?? '');
      expect(state?.status).toBe('succeeded');
      expect(state?.signature?.keyId).toBe(oldKey.kid);
      expect(headersOf(copy)).toEqual(state?.signature);
      const record = { topic: where.outcomeTopic, key: copy.key, value: Buffer.from(copy.value) };
      expect(verifyOutcome(trusted, { ...record, headers: copy.headers })).toBe('valid');
    }
  });

  it('a timeout decided at once by a collector and a sweeper on either side of the rotation is stored once: every copy carries the winner’s signature', async () => {
    // Prepare: a group past its deadline with one report
    const group = newGroupId();
    await deliverRecords(before.runtime, groupRecords(group).slice(0, 2));
    const late = Date.now() + 700_000;

    // Act: both time it out at once; then TTL removes its STATE unpublished and the rotated stream handler republishes
    // One through the path of a late record, the other through the sweeper's batch.
    await Promise.all([
      before.runtime.collector.timeoutGroup(group, late),
      after.runtime.collector.timeoutGroups([group], late + 1),
    ]);
    const state = await after.runtime.store.getState(group);
    await processStreamEvent(await unpublishedRemoval(after.runtime, group), after.runtime);
    const copies = (await drainTopic(where.outcomeTopic)).filter((m) => m.key === group);

    // Assess
    expect(state?.status).toBe('timedout');
    expect(copies).toHaveLength(2);
    for (const copy of copies) {
      expect(copy.value).toBe(copies[0]?.value);
      expect(headersOf(copy)).toEqual(state?.signature);
      const record = { topic: where.outcomeTopic, key: group, value: Buffer.from(copy.value) };
      expect(verifyOutcome(trusted, { ...record, headers: copy.headers })).toBe('valid');
    }
  });
});
