/**
 * `group-collector produce` and the client against a broker that requires TLS, SASL/SCRAM-SHA-512
 * and Kafka ACLs (local/services/secured-kafka.ts), with each user given exactly the ACLs
 * docs/clients.md lists: what the docs say a producer and a client need is what they need.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  type Admin,
  Kafka,
  type KafkaConfig,
  logLevel,
  ResourcePatternTypes,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SecuredKafkaNode, startSecuredKafka } from '#local/services/secured-kafka.ts';
import { CONNECTION_ENV } from '../../cli/connection.ts';
import { main } from '../../cli/index.ts';
import { CLIENT_DEFAULTS, GroupCollectorClient } from '../../client/index.ts';
import { captured } from '../helpers/cli-io.ts';

const USERS = {
  admin: randomUUID(),
  producer: randomUUID(),
  app: randomUUID(),
};
const INPUT = 'collector-input';
const OUTCOMES = 'collector-outcomes';

/**
 * The ACLs of docs/clients.md, "Kafka ACLs": a producer writes and describes the input topic; a
 * client also reads and describes the outcome topic and reads, describes and deletes its consumer
 * groups (prefix `group-collector-client-`).
 */
const ACLS = {
  producer: [
    { type: AclResourceTypes.TOPIC, name: INPUT, ops: [AclOperationTypes.WRITE, AclOperationTypes.DESCRIBE] },
  ],
  app: [
    { type: AclResourceTypes.TOPIC, name: INPUT, ops: [AclOperationTypes.WRITE, AclOperationTypes.DESCRIBE] },
    {
      type: AclResourceTypes.TOPIC,
      name: OUTCOMES,
      ops: [AclOperationTypes.READ, AclOperationTypes.DESCRIBE],
    },
    {
      type: AclResourceTypes.GROUP,
      name: `${CLIENT_DEFAULTS.groupIdPrefix}-`,
      prefixed: true,
      ops: [AclOperationTypes.READ, AclOperationTypes.DESCRIBE, AclOperationTypes.DELETE],
    },
  ],
};

describe('a broker that requires TLS, SCRAM and ACLs', () => {
  let dir: string;
  let node: SecuredKafkaNode;
  let admin: Admin;
  const config = (user: keyof typeof USERS): KafkaConfig => ({
    brokers: node.brokers,
    logLevel: logLevel.NOTHING,
    ssl: { ca: [node.caPem] },
    sasl: { mechanism: 'scram-sha-512', username: user, password: USERS[user] },
  });

  /** Every record of the topic, read as the administrator. */
  async function records(topic: string, count: number): Promise<string[]> {
    const consumer = new Kafka(config('admin')).consumer({ groupId: `read-${randomUUID()}` });
    const values: string[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((done) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            values.push(String(message.value));
            if (values.length >= count) done();
          },
        });
      });
    } finally {
      await consumer.disconnect();
    }
    return values;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secured-kafka-'));
    node = await startSecuredKafka({
      dataDir: dir,
      users: Object.entries(USERS).map(([name, password]) => ({ name, password })),
      superUsers: ['admin'],
    });
    admin = new Kafka(config('admin')).admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        { topic: INPUT, numPartitions: 1 },
        { topic: OUTCOMES, numPartitions: 1 },
      ],
    });
    await admin.createAcls({
      acl: Object.entries(ACLS).flatMap(([user, acls]) =>
        acls.flatMap((acl) =>
          acl.ops.map((operation) => ({
            resourceType: acl.type,
            resourceName: acl.name,
            resourcePatternType:
              'prefixed' in acl ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
            principal: `User:${user}`,
            host: '*',
            operation,
            permissionType: AclPermissionTypes.ALLOW,
          })),
        ),
      ),
    });
  }, 180_000);

  afterAll(async () => {
    await admin?.disconnect();
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('produce sends over TLS with SCRAM (password from the environment); a wrong password or a topic without an ACL fails', async () => {
    // Prepare
    // --raw: the records test the transport, not the events (produce refuses what is not an event).
    const connection = [
      '--raw',
      '--brokers',
      node.brokers.join(','),
      '--ca',
      node.caFile,
      '--sasl-mechanism',
    ];
    const ok = captured('{"n":1}\n{"n":2}\n', { [CONNECTION_ENV.password]: USERS.producer });
    const wrongPassword = captured('{"n":3}\n', { [CONNECTION_ENV.password]: 'not-the-password' });
    const noAcl = captured('{"n":4}\n', { [CONNECTION_ENV.password]: USERS.producer });
    // Act
    const code = await main(
      ['produce', ...connection, 'scram-sha-512', '--username', 'producer', '--topic', INPUT, '-'],
      ok.io,
    );
    const wrongCode = await main(
      ['produce', ...connection, 'scram-sha-512', '--username', 'producer', '--topic', INPUT, '-'],
      wrongPassword.io,
    );
    const noAclCode = await main(
      ['produce', ...connection, 'scram-sha-512', '--username', 'producer', '--topic', OUTCOMES, '-'],
      noAcl.io,
    );
    // Assess
    expect(code, ok.err()).toBe(0);
    expect(ok.err()).toContain(`sent 2 record(s) to ${INPUT}`);
    expect(await records(INPUT, 2)).toEqual(['{"n":1}', '{"n":2}']);
    expect(wrongCode).toBe(1);
    expect(wrongPassword.err()).toMatch(/SASL SCRAM SHA512 authentication failed/i);
    expect(noAclCode).toBe(1);
    expect(noAcl.err()).toMatch(/not authorized/i);
  });

  it('the client creates a group, receives its outcome and deletes its consumer group, with only the documented ACLs', async () => {
    // Prepare: the client as `app`, an outcome published as the collector would
    const client = new GroupCollectorClient({ kafka: config('app'), topic: INPUT, outcomeTopic: OUTCOMES });
    const outcomeProducer = new Kafka(config('admin')).producer();
    await outcomeProducer.connect();
    // Act
    const id = await client.createGroup({ expected: ['a'] });
    const waiting = client.awaitOutcome(id, { timeoutMs: 60_000 });
    const now = new Date().toISOString();
    await outcomeProducer.send({
      topic: OUTCOMES,
      messages: [
        {
          key: id,
          value: JSON.stringify({
            type: 'EventGroupCollectorSuccess',
            id,
            created: now,
            resolved: now,
            results: { a: 1 },
          }),
        },
      ],
    });
    const outcome = await waiting;
    const groupId = client.consumerGroupId;
    const during = (await admin.listGroups()).groups.map((g) => g.groupId);
    await client.close();
    await outcomeProducer.disconnect();
    const after = (await admin.listGroups()).groups.map((g) => g.groupId);
    // Assess
    expect(outcome).toMatchObject({ type: 'EventGroupCollectorSuccess', id, results: { a: 1 } });
    expect((await records(INPUT, 3)).map((v) => JSON.parse(v))).toContainEqual(
      expect.objectContaining({ id, type: 'EventGroupCollectorCreate', expected: ['a'] }),
    );
    expect(during).toContain(groupId);
    expect(after).not.toContain(groupId);
  });
});
