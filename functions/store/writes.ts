import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { CapacityMeter } from './capacity.ts';

/**
 * Puts `item` only if nothing is stored under its key; returns the item already there (its own on a
 * retried write whose reply was lost), or undefined when this write stored it.
 */
export async function putIfAbsent<T extends { pk: string; sk: string }>(
  doc: DynamoDBDocumentClient,
  tableName: string,
  meter: CapacityMeter,
  item: T,
): Promise<T | undefined> {
  try {
    const out = await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    meter.add(out.ConsumedCapacity, 'write');
    return undefined;
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException) || !error.Item) throw error;
    return unmarshall(error.Item) as T;
  }
}
