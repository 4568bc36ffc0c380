import type { ConsumedCapacity } from '@aws-sdk/client-dynamodb';

/** Running totals of consumed capacity (ReturnConsumedCapacity), for tests and benchmarks. */
export class CapacityMeter {
  write = 0;
  read = 0;
  /** Single-item calls report only `CapacityUnits`; `kind` says which side they count on. */
  add(consumed: ConsumedCapacity | ConsumedCapacity[] | undefined, kind: 'read' | 'write') {
    for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
      if (c.WriteCapacityUnits !== undefined || c.ReadCapacityUnits !== undefined) {
        this.write += c.WriteCapacityUnits ?? 0;
        this.read += c.ReadCapacityUnits ?? 0;
      } else if (kind === 'write') {
        this.write += c.CapacityUnits ?? 0;
      } else {
        this.read += c.CapacityUnits ?? 0;
      }
    }
  }
}
