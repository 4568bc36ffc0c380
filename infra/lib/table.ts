/**
 * The collector's DynamoDB table (keys, TTL, the stream the timeouts function reads, the deadlines
 * index the sweeper queries) and the item-level access every function gets to it.
 */
import { Aws, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { TABLE } from '#store/layout.ts';
import type { GroupCollectorProps } from './collector-props.ts';

/** Item-level DynamoDB actions the store uses (conditional writes, transactions, queries); no Scan. */
const TABLE_ITEM_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
];

export function createTable(
  scope: Construct,
  props: GroupCollectorProps,
  removalPolicy: RemovalPolicy,
): dynamodb.Table {
  const table = new dynamodb.Table(scope, 'Table', {
    tableName: props.tableName,
    partitionKey: { name: TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: TABLE.sortKey, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: TABLE.ttlAttribute,
    stream: dynamodb.StreamViewType[TABLE.streamViewType],
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    ...(props.encryptionKey
      ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey }
      : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
    removalPolicy: removalPolicy,
    deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
  });
  table.addGlobalSecondaryIndex({
    indexName: TABLE.deadlineIndex.name,
    partitionKey: { name: TABLE.deadlineIndex.partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: TABLE.deadlineIndex.sortKey, type: dynamodb.AttributeType.NUMBER },
    projectionType: dynamodb.ProjectionType.KEYS_ONLY,
  });
  return table;
}

/** The item-level actions on the table and its deadlines index, and the table's customer managed key if any. */
export function grantTable(table: dynamodb.Table, fn: lambda.IFunction): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: TABLE_ITEM_ACTIONS,
      resources: [table.tableArn],
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: [`${table.tableArn}/index/${TABLE.deadlineIndex.name}`],
    }),
  );
  // Reading and writing items of a table under a customer managed key uses the key on the caller's
  // behalf, through DynamoDB only.
  if (table.encryptionKey) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [table.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
      }),
    );
  }
}
