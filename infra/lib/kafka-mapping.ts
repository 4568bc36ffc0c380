/**
 * The collector's Kafka side: the event source mapping that feeds it (MSK or self-managed, with its
 * error controls in provisioned mode) and the grants every function needs to produce outcomes and
 * dead letters. How the cluster is described and checked is in kafka-access.ts.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KafkaDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { KAFKA_ESM } from '#shared/aws.ts';
import type { GroupCollectorProps } from './collector-props.ts';
import type { GroupCollector } from './group-collector.ts';
import { type MskClusterArn, mskResourceArn } from './kafka-access.ts';

/** Every function publishes outcomes and dead letters with the same credentials as the mapping. */
export function grantKafkaProduce(
  construct: GroupCollector,
  props: GroupCollectorProps,
  msk: MskClusterArn | undefined,
): void {
  const { kafka } = props;
  for (const fn of Object.values(construct.functions)) {
    kafka.secret?.grantRead(fn);
    if (kafka.kind === 'self-managed') kafka.rootCaSecret?.grantRead(fn);
    if (kafka.secretKey) {
      // Only through Secrets Manager: the key decrypts the Kafka secrets and nothing else for this role.
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [kafka.secretKey.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(construct).region}.amazonaws.com` },
          },
        }),
      );
    }
    if (kafka.kind === 'msk' && kafka.auth === 'iam' && msk) {
      const cluster = kafka.clusterArn;
      const produced = [
        construct.topics.outcomes,
        construct.topics.deadLetter,
        ...(props.replyToTopics ?? []),
      ];
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'],
          resources: [cluster],
        }),
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
          resources: unique(produced).map((t) => mskResourceArn(msk, 'topic', t)),
        }),
      );
    }
  }
}

export function createKafkaMapping(
  construct: GroupCollector,
  props: GroupCollectorProps,
  provisioned: lambda.ProvisionedPollerConfig | undefined,
  msk: MskClusterArn | undefined,
): lambda.EventSourceMapping {
  const { kafka, network } = props;
  const { collector } = construct.functions;
  const { consumerGroupId } = construct;
  const access: lambda.SourceAccessConfiguration[] = [];
  if (kafka.kind === 'msk') {
    if (kafka.auth === 'scram-sha-512' && kafka.secret) {
      access.push({
        type: lambda.SourceAccessConfigurationType.SASL_SCRAM_512_AUTH,
        uri: kafka.secret.secretArn,
      });
    }
    // What the mapping needs to find the cluster and its network (AWSLambdaMSKExecutionRole, scoped).
    collector.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'kafka:DescribeCluster',
          'kafka:DescribeClusterV2',
          'kafka:GetBootstrapBrokers',
          ...(kafka.auth === 'scram-sha-512' ? ['kafka:ListScramSecrets'] : []),
        ],
        resources: [kafka.clusterArn],
      }),
    );
    if (kafka.auth === 'iam' && msk) {
      collector.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
          resources: [kafka.clusterArn],
        }),
      );
      collector.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
          resources: [mskResourceArn(msk, 'topic', construct.topics.input)],
        }),
      );
      collector.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
          resources: [mskResourceArn(msk, 'group', consumerGroupId)],
        }),
      );
      if (provisioned && !props.kafkaOnFailure) {
        collector.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
            resources: [mskResourceArn(msk, 'topic', construct.topics.esmFailure)],
          }),
        );
      }
    }
  } else {
    if (kafka.secret) {
      const type =
        kafka.auth === 'mtls'
          ? lambda.SourceAccessConfigurationType.CLIENT_CERTIFICATE_TLS_AUTH
          : lambda.SourceAccessConfigurationType.SASL_SCRAM_512_AUTH;
      access.push({ type, uri: kafka.secret.secretArn });
    }
    if (kafka.rootCaSecret) {
      access.push({
        type: lambda.SourceAccessConfigurationType.SERVER_ROOT_CA_CERTIFICATE,
        uri: kafka.rootCaSecret.secretArn,
      });
    }
    if (network) {
      const [securityGroup] = network.securityGroups;
      if (securityGroup) {
        access.push({
          type: lambda.SourceAccessConfigurationType.VPC_SECURITY_GROUP,
          uri: securityGroup.securityGroupId,
        });
      }
      for (const subnetId of network.vpc.selectSubnets(network.subnets).subnetIds) {
        access.push({ type: lambda.SourceAccessConfigurationType.VPC_SUBNET, uri: subnetId });
      }
    }
  }
  // The error controls need provisioned mode (AWS); without it Lambda retries a failing batch until
  // its records expire, which still honours guarantee 8 (transient faults are retried).
  const errorControls = provisioned
    ? {
        provisionedPollerConfig: provisioned,
        retryAttempts: KAFKA_ESM.maximumRetryAttempts,
        maxRecordAge: Duration.seconds(KAFKA_ESM.maximumRecordAgeSeconds),
        bisectBatchOnError: KAFKA_ESM.bisectBatchOnFunctionError,
        reportBatchItemFailures: KAFKA_ESM.reportBatchItemFailures,
        onFailure: props.kafkaOnFailure ?? new KafkaDlq(construct.topics.esmFailure),
      }
    : {};
  return new lambda.EventSourceMapping(construct, 'KafkaSource', {
    target: collector,
    ...(kafka.kind === 'msk'
      ? { eventSourceArn: kafka.clusterArn }
      : { kafkaBootstrapServers: [...kafka.bootstrapServers] }),
    kafkaTopic: construct.topics.input,
    kafkaConsumerGroupId: consumerGroupId,
    startingPosition:
      props.startingPosition ?? lambda.StartingPosition[KAFKA_ESM.startingPosition as 'TRIM_HORIZON'],
    batchSize: KAFKA_ESM.batchSize,
    maxBatchingWindow: Duration.seconds(KAFKA_ESM.maximumBatchingWindowSeconds),
    sourceAccessConfigurations: access.length > 0 ? access : undefined,
    supportS3OnFailureDestination: true,
    metricsConfig: {
      metrics: [
        lambda.MetricType.EVENT_COUNT,
        lambda.MetricType.ERROR_COUNT,
        lambda.MetricType.KAFKA_METRICS,
      ],
    },
    ...errorControls,
  });
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
