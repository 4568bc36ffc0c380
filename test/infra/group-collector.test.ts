import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS, KAFKA_ESM, STREAM_ESM, SWEEPER } from '#shared/aws.ts';
import { ENV, TOPICS } from '#shared/config.ts';
import { METRIC_NAMES, METRICS } from '#shared/metrics.ts';
import { TABLE, TTL_STREAM_FILTERS } from '#store/layout.ts';
import { VPC_ACTIONS } from '../../infra/lib/group-collector.ts';
import {
  ACCOUNT,
  actionsOn,
  build,
  CA_SECRET,
  CLUSTER_ARN,
  CLUSTER_PATH,
  functionId,
  KMS_KEY,
  NETWORK,
  REGION,
  SCRAM_SECRET,
  SELF_SECRET,
  type Statement,
  statementsOf,
  VARIANTS,
  type Variant,
} from './stacks.ts';

const variants = Object.keys(VARIANTS) as Variant[];
const topicArn = (topic: string) => `arn:aws:kafka:${REGION}:${ACCOUNT}:topic/${CLUSTER_PATH}/${topic}`;
const groupArn = (group: string) => `arn:aws:kafka:${REGION}:${ACCOUNT}:group/${CLUSTER_PATH}/${group}`;

describe.each(variants)('GroupCollector (%s)', (variant) => {
  const props = VARIANTS[variant];

  it('creates the table: on demand, pk/sk, sparse deadlines index, TTL, stream with old images, PITR, encrypted, retained', () => {
    const { template } = build(variant);
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
          { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: TABLE.deadlineIndex.partitionKey, AttributeType: 'S' },
          { AttributeName: TABLE.deadlineIndex.sortKey, AttributeType: 'N' },
        ]),
        GlobalSecondaryIndexes: [
          {
            IndexName: TABLE.deadlineIndex.name,
            KeySchema: [
              { AttributeName: TABLE.deadlineIndex.partitionKey, KeyType: 'HASH' },
              { AttributeName: TABLE.deadlineIndex.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
        TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
        StreamSpecification: { StreamViewType: TABLE.streamViewType },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        // SSEEnabled: KMS with the AWS managed key (aws/dynamodb), whose use shows in CloudTrail.
        SSESpecification: { SSEEnabled: true },
      },
    });
  });

  it('consumes the input topic with every setting and error control from KAFKA_ESM, in provisioned mode', () => {
    const { stack, template } = build(variant);
    const derivedGroupId = stack.collector.consumerGroupId;
    expect(derivedGroupId).toMatch(new RegExp(`^group-collector-${ACCOUNT}-${REGION}-Test-[0-9a-f]{8}$`));
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionId(template, 'collector') },
      Topics: [TOPICS.input],
      StartingPosition: KAFKA_ESM.startingPosition,
      BatchSize: KAFKA_ESM.batchSize,
      MaximumBatchingWindowInSeconds: KAFKA_ESM.maximumBatchingWindowSeconds,
      MaximumRetryAttempts: KAFKA_ESM.maximumRetryAttempts,
      MaximumRecordAgeInSeconds: KAFKA_ESM.maximumRecordAgeSeconds,
      BisectBatchOnFunctionError: KAFKA_ESM.bisectBatchOnFunctionError,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: `kafka://${TOPICS.esmFailure}` } },
      ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 6 },
      MetricsConfig: { Metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'] },
      ...(props.kafka === 'msk'
        ? {
            EventSourceArn: CLUSTER_ARN,
            AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: derivedGroupId },
          }
        : {
            SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: props.bootstrapServers } },
            SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: derivedGroupId },
          }),
    });
  });

  it('feeds the timeouts function from the stream: TTL filters, STREAM_ESM settings, SQS on-failure queue', () => {
    const { template } = build(variant);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionId(template, 'timeouts') },
      EventSourceArn: { 'Fn::GetAtt': [Match.anyValue(), 'StreamArn'] },
      FilterCriteria: { Filters: TTL_STREAM_FILTERS.map((f) => ({ Pattern: JSON.stringify(f) })) },
      StartingPosition: STREAM_ESM.startingPosition,
      BatchSize: STREAM_ESM.batchSize,
      MaximumBatchingWindowInSeconds: STREAM_ESM.maximumBatchingWindowSeconds,
      MaximumRetryAttempts: STREAM_ESM.maximumRetryAttempts,
      MaximumRecordAgeInSeconds: STREAM_ESM.maximumRecordAgeSeconds,
      BisectBatchOnFunctionError: STREAM_ESM.bisectBatchOnFunctionError,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ParallelizationFactor: STREAM_ESM.parallelizationFactor,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('schedules the sweeper every SWEEPER.scheduleMinutes, without retries, and reserves no concurrency', () => {
    const { template } = build(variant);
    const sweeper = functionId(template, 'sweeper');
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: `rate(${SWEEPER.scheduleMinutes} minute)`,
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [sweeper, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0 },
        }),
      ],
    });
    // One sweeper at a time is the lease item's job; a reservation is opt-in (deploy-traps.test.ts).
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'group collector: sweeper',
      ReservedConcurrentExecutions: Match.absent(),
    });
  });

  it('builds the three functions: arm64, Node.js 22, FUNCTIONS memory and timeout, own log group, env by ENV names', () => {
    const { template } = build(variant);
    for (const name of ['collector', 'timeouts', 'sweeper'] as const) {
      const settings = FUNCTIONS[name];
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: `group collector: ${name}`,
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Architectures: ['arm64'],
        MemorySize: settings.memoryMb,
        Timeout: settings.timeoutSeconds,
        LoggingConfig: { LogGroup: { Ref: Match.anyValue() } },
        Environment: {
          Variables: Match.objectLike({
            [ENV.tableName]: { Ref: Match.anyValue() },
            [ENV.kafkaBrokers]: props.bootstrapServers.join(','),
            [ENV.kafkaAuth]: props.kafkaAuth,
            [ENV.kafkaTls]: 'true',
            [ENV.outcomeTopic]: TOPICS.outcomes,
            [ENV.deadLetterTopic]: TOPICS.deadLetter,
            [ENV.retentionSeconds]: '604800',
            [ENV.earlyReportWaitSeconds]: '600',
            [ENV.metricsNamespace]: METRICS.namespace,
            [ENV.deployment]: 'Test/GroupCollector',
            [ENV.signingSecretArn]: { Ref: Match.stringLikeRegexp('OutcomeSigningKey') },
            NODE_OPTIONS: Match.absent(),
            ...('kafkaSecretArn' in props ? { [ENV.kafkaSecretArn]: props.kafkaSecretArn } : {}),
            ...('kafkaRootCaSecretArn' in props ? { [ENV.kafkaRootCaSecretArn]: CA_SECRET } : {}),
          }),
        },
        ...('vpcId' in props
          ? {
              VpcConfig: {
                SubnetIds: NETWORK.subnetIds,
                SecurityGroupIds: NETWORK.securityGroupIds,
              },
            }
          : {}),
      });
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'group collector: collector',
      Environment: { Variables: Match.objectLike({ [ENV.reportBatchItemFailures]: 'true' }) },
    });
    // The three functions' and the outcome key generator's.
    template.resourceCountIs('AWS::Logs::LogGroup', 4);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    // No AWS managed policies: each role holds only what its function uses.
    for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('grants item-level table access and the deadlines index, not Scan', () => {
    const { template } = build(variant);
    for (const name of ['collector', 'timeouts', 'sweeper'] as const) {
      const statements = statementsOf(template, name);
      const onTable = statements.filter(
        (s) =>
          JSON.stringify(s.Resource).includes('Table') && !JSON.stringify(s.Resource).includes('/index/'),
      );
      expect(onTable.length).toBeGreaterThan(0);
      const actions = onTable.flatMap((s) => s.Action);
      expect(actions).toEqual(
        expect.arrayContaining([
          'dynamodb:Query',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
        ]),
      );
      expect(actions).not.toContain('dynamodb:Scan');
      const index = statements.find((s) =>
        JSON.stringify(s.Resource).includes(`/index/${TABLE.deadlineIndex.name}`),
      );
      expect(index?.Action).toBe('dynamodb:Query');
    }
  });

  it('grants no wildcard action, and "*" resources only to actions that have no resource-level permission', () => {
    const { template } = build(variant);
    // Prepare: every statement of every policy in the stack, inline or attached.
    const statements: Statement[] = [
      ...Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
        (p) => p.Properties.PolicyDocument.Statement as Statement[],
      ),
      ...Object.values(template.findResources('AWS::IAM::Role')).flatMap((r) =>
        ((r.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
          (p) => p.PolicyDocument.Statement,
        ),
      ),
    ];
    const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
    // Act: the actions and resources that hold a wildcard.
    const wildActions = statements.flatMap((s) => list(s.Action)).filter((a) => String(a).includes('*'));
    const onStar = statements
      .filter((s) => list(s.Resource).includes('*'))
      .flatMap((s) => list(s.Action) as string[]);
    const partialStars = statements
      .flatMap((s) => list(s.Resource))
      .filter((r) => typeof r === 'string' && r !== '*' && r.includes('*'));
    // Assess: nothing but the actions AWS only grants on "*" (the Streams mapping's ListStreams,
    // and the network interfaces a function in a VPC needs).
    expect(wildActions).toEqual([]);
    expect(partialStars).toEqual([]);
    const allowedOnStar = new Set(['dynamodb:ListStreams', ...VPC_ACTIONS]);
    expect(onStar.filter((a) => !allowedOnStar.has(a))).toEqual([]);
    expect(onStar).toContain('dynamodb:ListStreams');
    if (!('vpcId' in VARIANTS[variant])) expect(onStar.some((a) => a.startsWith('ec2:'))).toBe(false);
  });

  it('alarms on errors, throttles, OffsetLag, IteratorAge, dead letters and both on-failure destinations', () => {
    const { template } = build(variant);
    for (const metric of ['Errors', 'Throttles']) {
      expect(
        Object.keys(template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: metric } })),
      ).toHaveLength(3);
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'OffsetLag',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(template, 'collector') } }],
      Statistic: 'Maximum',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(template, 'timeouts') } }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS.namespace,
      MetricName: METRIC_NAMES.deadLetters,
      // Both dimensions the functions' metrics carry (Powertools: service, plus COLLECTOR_DEPLOYMENT).
      Dimensions: [
        { Name: METRICS.deploymentDimension, Value: 'Test/GroupCollector' },
        { Name: METRICS.serviceDimension, Value: METRICS.service },
      ],
      Statistic: 'Sum',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'OnFailureDestinationDeliveredEventCount',
      Dimensions: [{ Name: 'EventSourceMappingUUID', Value: Match.anyValue() }],
    });
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('creates the outcome signing key: a secret written by its custom resource, read by the three functions, public keys as an output', () => {
    // Prepare / Act
    const { template } = build(variant);
    const secretId = Object.keys(template.findResources('AWS::SecretsManager::Secret')).find((id) =>
      id.includes('OutcomeSigningKey'),
    );

    // Assess
    expect(secretId).toBeDefined();
    template.hasResourceProperties('Custom::OutcomeSigningKey', {
      SecretId: { Ref: secretId },
      Generation: '1',
    });
    template.hasOutput('OutcomePublicKeys', {
      Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('OutcomeSigningKeyResource'), 'PublicKeys'] },
    });
    for (const name of ['collector', 'timeouts', 'sweeper'] as const) {
      const onSecret = statementsOf(template, name).filter(
        (st) => JSON.stringify(st.Resource) === JSON.stringify({ Ref: secretId }),
      );
      expect(onSecret.flatMap((st) => [st.Action].flat())).toEqual(
        expect.arrayContaining(['secretsmanager:GetSecretValue']),
      );
      expect(onSecret.flatMap((st) => [st.Action].flat())).not.toContain('secretsmanager:PutSecretValue');
    }
    // Nothing private in the template: the key is generated by the custom resource at deployment.
    expect(JSON.stringify(template.toJSON())).not.toMatch(/"d":/);
  });

  it('outputs the table, topics and functions', () => {
    const { template } = build(variant);
    for (const name of [
      'TableName',
      'KafkaConsumerGroupId',
      'InputTopic',
      'OutcomeTopic',
      'DeadLetterTopic',
      'EsmFailureTopic',
      'CollectorFunctionName',
      'TimeoutsFunctionName',
      'SweeperFunctionName',
      'StreamFailureQueueUrl',
      'DashboardName',
      'OutcomePublicKeys',
    ]) {
      template.hasOutput(name, Match.anyValue());
    }
    template.hasOutput('InputTopic', { Value: TOPICS.input });
  });

  it('passes the AWS Solutions and NIST 800-53 rev 5 checks (cdk-nag) with every finding either fixed or acknowledged with a reason', () => {
    const { stack } = build(variant);
    for (const pack of [new AwsSolutionsChecks(), new NIST80053R5Checks()]) {
      const report = pack.validateScope(stack);
      expect(
        report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath)}`),
      ).toEqual([]);
      expect(report.success).toBe(true);
    }
    expect(Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual(
      [],
    );
  });
});

describe('Guard rules registry suppressions', () => {
  it('carry a reason for every rule they suppress', () => {
    // Prepare
    const { template } = build('msk-iam');
    // Act
    const suppressions = Object.entries(template.toJSON().Resources as Record<string, Resource>).flatMap(
      ([id, resource]) =>
        (resource.Metadata?.guard?.SuppressedRules ?? []).map((rule) => ({
          id,
          rule,
          reason: resource.Metadata?.guard?.Reasons?.[rule],
        })),
    );
    // Assess
    expect(suppressions.length).toBeGreaterThan(0);
    expect(suppressions.filter((s) => !s.reason || s.reason.length < 20)).toEqual([]);
  });
});

interface Resource {
  Metadata?: { guard?: { SuppressedRules?: string[]; Reasons?: Record<string, string> } };
}

describe('Kafka authentication', () => {
  it('MSK IAM: the collector reads its topic and group, every function writes outcomes and dead letters', () => {
    const { stack, template } = build('msk-iam');
    const collector = statementsOf(template, 'collector');
    expect(actionsOn(collector, CLUSTER_ARN)).toEqual(
      expect.arrayContaining([
        'kafka-cluster:Connect',
        'kafka-cluster:DescribeClusterDynamicConfiguration',
        'kafka-cluster:WriteDataIdempotently',
        'kafka:DescribeClusterV2',
        'kafka:GetBootstrapBrokers',
      ]),
    );
    expect(actionsOn(collector, topicArn(TOPICS.input))).toEqual(
      expect.arrayContaining([
        'kafka-cluster:DescribeTopic',
        'kafka-cluster:ReadData',
        'kafka-cluster:WriteData',
      ]),
    );
    expect(actionsOn(collector, groupArn(stack.collector.consumerGroupId))).toEqual([
      'kafka-cluster:DescribeGroup',
      'kafka-cluster:AlterGroup',
    ]);
    expect(actionsOn(collector, topicArn(TOPICS.esmFailure))).toContain('kafka-cluster:WriteData');
    for (const name of ['timeouts', 'sweeper'] as const) {
      const statements = statementsOf(template, name);
      expect(actionsOn(statements, topicArn(TOPICS.deadLetter))).toEqual([
        'kafka-cluster:DescribeTopic',
        'kafka-cluster:WriteData',
      ]);
      expect(actionsOn(statements, topicArn(TOPICS.input))).not.toContain('kafka-cluster:ReadData');
      expect(actionsOn(statements, CLUSTER_ARN)).toEqual([
        'kafka-cluster:Connect',
        'kafka-cluster:WriteDataIdempotently',
      ]);
    }
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: CLUSTER_ARN,
      SourceAccessConfigurations: Match.absent(),
    });
  });

  it('MSK SCRAM: the mapping and the producers read the AmazonMSK_ secret and decrypt it with its key', () => {
    const { template } = build('msk-scram');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: CLUSTER_ARN,
      SourceAccessConfigurations: [{ Type: 'SASL_SCRAM_512_AUTH', URI: SCRAM_SECRET }],
    });
    for (const name of ['collector', 'timeouts', 'sweeper'] as const) {
      const statements = statementsOf(template, name);
      expect(actionsOn(statements, SCRAM_SECRET)).toEqual(
        expect.arrayContaining(['secretsmanager:GetSecretValue']),
      );
      expect(actionsOn(statements, KMS_KEY)).toEqual(['kms:Decrypt']);
      expect(JSON.stringify(statements)).not.toContain('kafka-cluster:');
    }
    expect(actionsOn(statementsOf(template, 'collector'), CLUSTER_ARN)).toContain('kafka:ListScramSecrets');
  });

  it('self-managed in a VPC: SCRAM secret, subnets and security group on the mapping', () => {
    const { template } = build('self-managed-scram-private');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      SourceAccessConfigurations: [
        { Type: 'SASL_SCRAM_512_AUTH', URI: SELF_SECRET },
        { Type: 'VPC_SECURITY_GROUP', URI: NETWORK.securityGroupIds[0] },
        { Type: 'VPC_SUBNET', URI: NETWORK.subnetIds[0] },
        { Type: 'VPC_SUBNET', URI: NETWORK.subnetIds[1] },
      ],
    });
  });

  it('self-managed over the internet: mTLS client certificate and private root CA, functions outside any VPC', () => {
    const { template } = build('self-managed-mtls-public');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      SourceAccessConfigurations: [
        { Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: SELF_SECRET },
        { Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: CA_SECRET },
      ],
    });
    template.allResourcesProperties('AWS::Lambda::Function', { VpcConfig: Match.absent() });
    for (const name of ['collector', 'timeouts', 'sweeper'] as const) {
      expect(actionsOn(statementsOf(template, name), CA_SECRET)).toContain('secretsmanager:GetSecretValue');
    }
  });
});

describe('provisioned mode switched off', () => {
  it('drops the Kafka error controls and tells the collector to fail whole batches', () => {
    const { template } = build('msk-iam', { provisionedPollers: false });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: CLUSTER_ARN,
      ProvisionedPollerConfig: Match.absent(),
      MaximumRetryAttempts: Match.absent(),
      MaximumRecordAgeInSeconds: Match.absent(),
      BisectBatchOnFunctionError: Match.absent(),
      FunctionResponseTypes: Match.absent(),
      DestinationConfig: Match.absent(),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'group collector: collector',
      Environment: { Variables: Match.objectLike({ [ENV.reportBatchItemFailures]: 'false' }) },
    });
  });
});

describe('cdk-nag is live', () => {
  it('reports an unacknowledged finding, and not an acknowledged one', () => {
    const stack = new Stack(new App(), 'Nag');
    const queue = new sqs.Queue(stack, 'Plain', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    const before = new AwsSolutionsChecks().validateScope(stack);
    expect(before.violations.map((v) => v.ruleName)).toEqual(expect.arrayContaining(['AwsSolutions-SQS3']));
    Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'test' });
    const after = new AwsSolutionsChecks().validateScope(stack);
    expect(after.violations.map((v) => v.ruleName)).not.toContain('AwsSolutions-SQS3');
  });
});
