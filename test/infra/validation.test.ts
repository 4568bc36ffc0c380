import { App } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { CollectorStack, type CollectorStackProps } from '../../infra/lib/collector-stack.ts';
import { EXAMPLES, stackPropsFromContext } from '../../infra/lib/context.ts';
import { ACCOUNT, CLUSTER_ARN, NETWORK, REGION, SELF_SECRET, VARIANTS } from './stacks.ts';

const synth =
  (props: Partial<CollectorStackProps>, base: CollectorStackProps = VARIANTS['msk-iam']) =>
  () =>
    new CollectorStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Invalid', {
      env: { account: ACCOUNT, region: REGION },
      ...base,
      ...props,
    } as CollectorStackProps);

describe('props are checked at synth time, with messages that say what to change', () => {
  it('MSK needs a network, a real cluster ARN in the same Region, and a secret only for SCRAM', () => {
    expect(synth({ vpcId: undefined, subnetIds: undefined, securityGroupIds: undefined })).toThrow(
      /MSK brokers are reachable only inside their VPC: set network/,
    );
    expect(synth({ mskClusterArn: 'arn:aws:kafka:eu-west-1:1:cluster/x' })).toThrow(
      /is not an MSK cluster ARN/,
    );
    expect(synth({ env: { account: ACCOUNT, region: 'us-east-1' } })).toThrow(
      /the MSK cluster is in eu-west-1 but the stack deploys to us-east-1/,
    );
    expect(synth({ kafkaAuth: 'scram-sha-512' })).toThrow(/MSK with SASL\/SCRAM needs kafka.secret/);
    expect(synth({ kafkaAuth: 'scram-sha-512', kafkaSecretArn: SELF_SECRET })).toThrow(
      /MSK SCRAM secrets must be named AmazonMSK_/,
    );
    expect(synth({ kafkaAuth: 'mtls' })).toThrow(/not supported for MSK: use iam or scram-sha-512/);
    expect(synth({ kafkaSecretArn: SELF_SECRET })).toThrow(/remove kafka.secret/);
  });

  it('self-managed brokers need credentials for their auth, and a network when unauthenticated', () => {
    const base = VARIANTS['self-managed-mtls-public'];
    expect(synth({ kafkaSecretArn: undefined }, base)).toThrow(/with mtls needs kafka.secret/);
    expect(synth({ kafkaAuth: 'none', kafkaSecretArn: undefined }, base)).toThrow(
      /must be private: set network/,
    );
    expect(synth({ kafkaAuth: 'iam' }, base)).toThrow(/not supported for self-managed Kafka/);
    expect(synth({ kafkaTls: false }, base)).toThrow(/mutual TLS cannot run with kafka.tls = false/);
    expect(synth({ bootstrapServers: ['kafka-1'] }, base)).toThrow(/"kafka-1" is not host:port/);
    expect(synth({ mskClusterArn: CLUSTER_ARN }, base)).toThrow(/choose one/);
  });

  it('warns at synth time about unauthenticated or plaintext Kafka, and not about TLS with credentials', () => {
    // Prepare
    const private_ = { ...VARIANTS['self-managed-scram-private'] };
    // Act
    const open = synth({ kafkaAuth: 'none', kafkaSecretArn: undefined }, private_)();
    const plain = synth({ kafkaTls: false }, private_)();
    const secure = synth({}, private_)();
    // Assess
    const warnings = (stack: ReturnType<ReturnType<typeof synth>>) =>
      Annotations.fromStack(stack)
        .findWarning('*', Match.stringLikeRegexp('.*'))
        .map((w) => String(w.entry.data))
        .filter((text) => text.includes('kafka.'));
    expect(warnings(open).join('\n')).toMatch(/kafka.auth is "none"[\s\S]*kafka.tls is off/);
    expect(warnings(plain)).toEqual([expect.stringMatching(/kafka.tls is off: outcomes and dead letters/)]);
    expect(warnings(secure)).toEqual([]);
  });

  it('topics, consumer group and pollers follow the Kafka and Lambda rules; all problems are listed at once', () => {
    expect(synth({ topics: { esmFailure: 'eventbus-collector' } })).toThrow(
      /esmFailure must differ from topics.input/,
    );
    expect(synth({ topics: { deadLetter: 'bad topic' } })).toThrow(
      /"bad topic" is not a valid Kafka topic name/,
    );
    expect(synth({ consumerGroupId: 'with space' })).toThrow(/consumerGroupId "with space"/);
    expect(synth({ provisionedPollers: { minimumPollers: 5, maximumPollers: 2 } })).toThrow(
      /minimumPollers 5 exceeds maximumPollers 2/,
    );
    expect(synth({ vpcId: NETWORK.vpcId, subnetIds: [] })).toThrow(/give subnetIds and securityGroupIds/);
    expect(synth({ topics: { input: 'a b', esmFailure: 'c d' } })).toThrow(/"a b"[\s\S]*"c d"/);
  });
});

describe('CDK context', () => {
  const read = (ctx: Record<string, string>) => (key: string) => ctx[key];

  it('synthesizes the MSK example with no context and the self-managed one with kafka=self-managed only', () => {
    const msk = stackPropsFromContext(read({}));
    expect(msk.usedExamples).toBe(true);
    expect(msk.props).toMatchObject({
      kafka: 'msk',
      mskClusterArn: EXAMPLES.msk.mskClusterArn,
      kafkaAuth: 'iam',
    });
    const self = stackPropsFromContext(read({ kafka: 'self-managed' }));
    expect(self.props).toMatchObject({
      kafka: 'self-managed',
      kafkaSecretArn: EXAMPLES.selfManaged.kafkaSecretArn,
    });
    expect(self.props.vpcId).toBeUndefined();
  });

  it('never mixes examples with real values, and parses lists, pollers and removal policy', () => {
    const real = stackPropsFromContext(
      read({
        kafka: 'msk',
        mskClusterArn: CLUSTER_ARN,
        bootstrapServers: 'b-1:9098, b-2:9098',
        provisionedPollers: '2-4',
        pollerGroupName: 'bus',
        removalPolicy: 'destroy',
        replyToTopics: 'replies-*',
      }),
    );
    expect(real.usedExamples).toBe(false);
    expect(real.props.vpcId).toBeUndefined();
    expect(real.props.bootstrapServers).toEqual(['b-1:9098', 'b-2:9098']);
    expect(real.props.provisionedPollers).toEqual({
      minimumPollers: 2,
      maximumPollers: 4,
      pollerGroupName: 'bus',
    });
    expect(real.props.replyToTopics).toEqual(['replies-*']);
    expect(
      stackPropsFromContext(read({ bootstrapServers: 'x:1', provisionedPollers: 'off' })).props
        .provisionedPollers,
    ).toBe(false);
    expect(() => stackPropsFromContext(read({ mskClusterArn: CLUSTER_ARN }))).toThrow(
      /bootstrapServers is required/,
    );
    expect(() => stackPropsFromContext(read({ kafka: 'kinesis' }))).toThrow(
      /must be one of msk, self-managed/,
    );
    expect(() =>
      stackPropsFromContext(read({ bootstrapServers: 'x:1', provisionedPollers: 'many' })),
    ).toThrow(/"off" or "<min>-<max>"/);
  });
});
