/**
 * Findings of the checks run on the synthesized stack that are deliberate, each acknowledged with
 * its reason where the resource is made: cdk-nag (AWS Solutions and NIST 800-53 rev 5), the AWS
 * CloudFormation Guard rules registry, and cfn-lint's serverless rules.
 */
import { CfnResource, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import type { GroupCollectorProps } from './collector-props.ts';
import type { GroupCollector } from './group-collector.ts';
import { type MskClusterArn, mskResourceArn } from './kafka-access.ts';

/**
 * cfn-lint serverless-rules findings that are deliberate, each with its reason (docs/deploy.md,
 * "Synth and lint warnings"): written as the resources' `cfn-lint` metadata, which cfn-lint reads.
 */
export function acknowledgeLintFindings(construct: GroupCollector, provisionedMode: boolean): void {
  const ignore = (resource: CfnResource, ...checks: string[]) =>
    resource.addMetadata('cfn-lint', { config: { ignore_checks: checks } });
  // ES1001 (a mapping without an on-failure destination) with provisionedPollers: false only: AWS
  // accepts a Kafka on-failure destination in provisioned mode only; the operator chose that trade-off.
  if (!provisionedMode) ignore(construct.kafkaMapping.node.defaultChild as CfnResource, 'ES1001');
  // ES6000 (a queue without a redrive policy): this queue is itself the stream mapping's dead-letter
  // destination, read by operators and watched by StreamFailuresDepth; nothing redrives from it.
  ignore(construct.streamFailureQueue.node.defaultChild as CfnResource, 'ES6000');
  // ES4000 / ES1007 (no dead-letter queue or on-failure destination for the scheduled sweeper): a
  // missed run has nothing to replay; the next minute's run sweeps every due deadline (they stay in
  // the index until decided), and SweeperErrors / SweeperThrottles alarm on failures.
  for (const child of construct.node.findAll()) {
    if (child instanceof events.CfnRule) ignore(child, 'ES4000');
    if (child instanceof lambda.CfnPermission && String(child.principal).startsWith('events.amazonaws.com')) {
      ignore(child, 'ES1007');
    }
  }
}

/** cdk-nag findings that are deliberate, each with its reason. */
export function acknowledgeNagFindings(
  construct: GroupCollector,
  props: GroupCollectorProps,
  msk: MskClusterArn | undefined,
): void {
  for (const fn of Object.values(construct.functions)) {
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the handlers, their dependencies and the local runtime are tested on; moving to a newer runtime is a tested change of its own.',
    });
    if (props.network) {
      Validations.of(fn.role as iam.Role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Lambda VPC networking: the EC2 network-interface and Describe* actions Lambda (and the MSK mapping) use do not support resource-level permissions.',
      });
    }
  }
  Validations.of(construct.functions.timeouts.role as iam.Role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'dynamodb:ListStreams, required by the stream event source mapping, does not support resource-level permissions; the stream itself is named in the other actions.',
  });
  if (props.encryptionKey) {
    for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
      Validations.of(construct.functions.timeouts.role as iam.Role).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason:
          "The stream mapping's on-failure queue is encrypted with encryptionKey: sending to it needs data keys of that one key (the grant CDK makes for an SQS destination).",
      });
    }
  }
  Validations.of(construct.streamFailureQueue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason:
      'This queue is itself the dead-letter destination of the stream event source mapping; it is watched by the StreamFailuresDepth alarm.',
  });
  for (const pattern of props.replyToTopics ?? []) {
    if (pattern.endsWith('*') && msk) {
      for (const fn of Object.values(construct.functions)) {
        Validations.of(fn.role as iam.Role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${mskResourceArn(msk, 'topic', pattern)}]`,
          reason: 'replyTo topics configured as a prefix pattern: groups may name any topic under it.',
        });
      }
    }
  }
}

/**
 * A deliberate finding: the cdk-nag rule ids (any pack) and Guard rules registry rule names it goes
 * by, and why it stays. Guard reads `Metadata.guard.SuppressedRules` on each resource; the reasons
 * are written beside them (`Metadata.guard.Reasons`), as cdk-nag keeps its own in the construct tree.
 */
export interface Deliberate {
  readonly nag?: readonly string[];
  readonly guard?: readonly string[];
  readonly reason: string;
}

export function acknowledge(scope: IConstruct, finding: Deliberate): void {
  for (const id of finding.nag ?? []) Validations.of(scope).acknowledge({ id, reason: finding.reason });
  if (!finding.guard) return;
  for (const child of scope.node.findAll()) {
    if (!(child instanceof CfnResource)) continue;
    const guard = (child.getMetadata('guard') ?? {}) as {
      SuppressedRules?: string[];
      Reasons?: Record<string, string>;
    };
    const rules = new Set(guard.SuppressedRules ?? []);
    const reasons = { ...guard.Reasons };
    for (const rule of finding.guard) {
      rules.add(rule);
      reasons[rule] = finding.reason;
    }
    child.addMetadata('guard', { SuppressedRules: [...rules].sort(), Reasons: reasons });
  }
}

/**
 * The findings of cdk-nag's NIST 800-53 rev 5 pack and the Guard rules registry that are deliberate
 * (the AWS Solutions ones are above). Those a prop fixes are acknowledged only when it is not set.
 */
export function acknowledgeComplianceFindings(construct: GroupCollector, props: GroupCollectorProps): void {
  const { collector, timeouts, sweeper } = construct.functions;
  const reserved = {
    collector: props.reservedConcurrency?.collector,
    timeouts: props.reservedConcurrency?.timeouts,
    sweeper: props.reservedConcurrency?.sweeper ?? props.sweeperReservedConcurrency,
  };
  for (const [name, fn] of Object.entries(construct.functions)) {
    if (props.network) {
      acknowledge(fn.role as iam.Role, {
        guard: ['IAM_POLICYDOCUMENT_NO_WILDCARD_RESOURCE'],
        reason:
          'Lambda VPC networking: the EC2 network-interface and Describe* actions Lambda (and the MSK mapping) use do not support resource-level permissions.',
      });
    }
    if (reserved[name as keyof typeof reserved] === undefined) {
      acknowledge(fn.node.defaultChild as CfnResource, {
        nag: ['NIST.800.53.R5-LambdaConcurrency'],
        guard: ['LAMBDA_CONCURRENCY_CHECK'],
        reason:
          'Reserved concurrency is optional (reservedConcurrency): a reservation fails on accounts with a low concurrency limit, and the mappings already bound the collector (provisioned pollers) and the timeouts function (one invocation per shard).',
      });
    }
    if (!props.network) {
      acknowledge(fn.node.defaultChild as CfnResource, {
        nag: ['NIST.800.53.R5-LambdaInsideVPC'],
        guard: ['LAMBDA_INSIDE_VPC'],
        reason:
          'No network given: the brokers are reached over the internet with TLS and authentication (refused at synth when unauthenticated), and DynamoDB through its public endpoint; set network to run the functions in a VPC.',
      });
    }
    acknowledge(fn.role as iam.Role, {
      nag: ['NIST.800.53.R5-IAMNoInlinePolicy'],
      guard: ['IAM_NO_INLINE_POLICY_CHECK'],
      reason:
        "Each function has a role of its own whose policies name that function's log group, table and topics; a managed policy would be shared by roles that need different resources.",
    });
  }
  acknowledge(timeouts.role as iam.Role, {
    guard: ['IAM_POLICYDOCUMENT_NO_WILDCARD_RESOURCE'],
    reason:
      'dynamodb:ListStreams, required by the stream event source mapping, does not support resource-level permissions; the stream itself is named in the other actions.',
  });
  if (props.tableName !== undefined) {
    acknowledge(construct.table.node.defaultChild as CfnResource, {
      guard: ['CFN_NO_EXPLICIT_RESOURCE_NAMES'],
      reason:
        'tableName was given: the operator chose a fixed name (a change that replaces the table then needs a new name).',
    });
    // The registry's rule checks every resource of its types as soon as one of them is not
    // suppressed, so the table's suppression holds only if the construct's other named-type
    // resources (roles, alarms: all with generated names) carry it too.
    for (const child of construct.node.findAll()) {
      if (child instanceof iam.CfnRole || child instanceof cloudwatch.CfnAlarm) {
        acknowledge(child, {
          guard: ['CFN_NO_EXPLICIT_RESOURCE_NAMES'],
          reason:
            'Complies (generated name); suppressed as well because the rule checks every resource of its types unless all are suppressed, and the table has a fixed name on purpose (tableName).',
        });
      }
    }
  }
  for (const fn of [collector, timeouts]) {
    acknowledge(fn.node.defaultChild as CfnResource, {
      nag: ['NIST.800.53.R5-LambdaDLQ'],
      guard: ['LAMBDA_DLQ_CHECK'],
      reason:
        'Invoked only by an event source mapping, which never uses a function dead-letter queue: the mapping has its own on-failure destination (Kafka topic or SQS queue), watched by an alarm.',
    });
  }
  acknowledge(sweeper.node.defaultChild as CfnResource, {
    nag: ['NIST.800.53.R5-LambdaDLQ'],
    guard: ['LAMBDA_DLQ_CHECK'],
    reason:
      'The scheduled sweeper has nothing to replay: a failed run leaves the due deadlines in the index and the next minute sweeps them; SweeperErrors alarms on failures.',
  });
  acknowledge(construct.table.node.defaultChild as CfnResource, {
    // The registry's DYNAMODB_IN_BACKUP_PLAN rules are placeholders without a check: nothing to suppress.
    nag: ['NIST.800.53.R5-DynamoDBInBackupPlan'],
    reason:
      'The table has point-in-time recovery (35 days) and is retained on delete; an AWS Backup plan is the account owner’s choice (add collector.table to yours with BackupResource.fromDynamoDbTable).',
  });
  if (!props.encryptionKey) {
    const reason =
      'No encryptionKey given: encrypted with AWS managed keys (the table with aws/dynamodb, the queue with SQS-managed keys, the logs by CloudWatch Logs); set encryptionKey for a customer managed key.';
    acknowledge(construct.table.node.defaultChild as CfnResource, {
      guard: ['DYNAMODB_TABLE_ENCRYPTED_KMS'],
      reason,
    });
    acknowledge(construct.streamFailureQueue.node.defaultChild as CfnResource, {
      guard: ['SQS_QUEUE_KMS_MASTER_KEY_ID_RULE'],
      reason,
    });
    for (const fn of Object.values(construct.functions)) {
      const logGroup = fn.logGroup.node.defaultChild as CfnResource | undefined;
      if (logGroup) {
        acknowledge(logGroup, {
          nag: ['NIST.800.53.R5-CloudWatchLogGroupEncrypted'],
          guard: ['CLOUDWATCH_LOG_GROUP_ENCRYPTED'],
          reason,
        });
      }
    }
  }
  if (!props.alarmTopic) {
    for (const alarm of construct.alarms as cloudwatch.Alarm[]) {
      acknowledge(alarm.node.defaultChild as CfnResource, {
        nag: ['NIST.800.53.R5-CloudWatchAlarmAction'],
        guard: ['CLOUDWATCH_ALARM_ACTION_CHECK'],
        reason:
          'No alarmTopic given: synth warns group-collector:alarms-notify-no-one; the alarms show on the dashboard and can be given actions by the app.',
      });
    }
  }
}
