import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

type LambdaAttributeValue = Record<string, unknown>;

/**
 * Converts a DynamoDB stream image as Lambda delivers it (JSON: binary values as
 * base64 strings) into a plain item. Binary values become Buffers, sets become Sets.
 */
export function imageToItem<T>(image: Record<string, LambdaAttributeValue> | undefined): T | undefined {
  if (!image) return undefined;
  return unmarshall(
    Object.fromEntries(Object.entries(image).map(([k, v]) => [k, toSdk(v)])) as Record<
      string,
      AttributeValue
    >,
  ) as T;
}

function toSdk(value: LambdaAttributeValue): AttributeValue {
  if ('B' in value) return { B: bytes(value.B) };
  if ('BS' in value) return { BS: (value.BS as unknown[]).map(bytes) };
  if ('M' in value) {
    const map = value.M as Record<string, LambdaAttributeValue>;
    return { M: Object.fromEntries(Object.entries(map).map(([k, v]) => [k, toSdk(v)])) };
  }
  if ('L' in value) return { L: (value.L as LambdaAttributeValue[]).map(toSdk) };
  return value as unknown as AttributeValue;
}

const bytes = (v: unknown): Uint8Array =>
  typeof v === 'string' ? Buffer.from(v, 'base64') : v instanceof Uint8Array ? v : new Uint8Array();

/** True for a deletion made by DynamoDB's TTL (as Lambda writes userIdentity: lowercase). */
export function isTtlRemoval(record: { eventName?: string; userIdentity?: unknown }): boolean {
  const identity = record.userIdentity as { type?: string; principalId?: string } | undefined;
  return (
    record.eventName === 'REMOVE' &&
    identity?.type === 'Service' &&
    identity.principalId === 'dynamodb.amazonaws.com'
  );
}
