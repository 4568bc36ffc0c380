/**
 * 6. Cost per million groups on AWS, from the capacity units and invocations
 * measured in this run, next to Step Functions Standard and Express doing the
 * same fan-in job. Prices: docs/AWS-FACTS.md section D (us-east-1).
 */
import { FUNCTIONS, KAFKA_ESM } from '#shared/aws.ts';
import type { ThroughputRow } from './throughput.ts';
import type { DesignCost, WriteCostRow } from './write-cost.ts';

export const PRICES = {
  source:
    'docs/AWS-FACTS.md section D (us-east-1): Lambda [40] cloudchipr.com/blog/aws-lambda-pricing; DynamoDB on-demand after the Nov 2024 cut [41]; Step Functions [42] aws.amazon.com/step-functions/pricing/, [43]',
  asOf: 'prices as collected in AWS-FACTS.md (DynamoDB: after the November 2024 cut); free tiers ignored',
  lambdaPerRequest: 0.2 / 1e6,
  lambdaArmPerGbSecond: 0.0000133334,
  dynamoPerWru: 0.625 / 1e6,
  dynamoPerRru: 0.125 / 1e6,
  sfnStandardPerTransition: 0.025 / 1000,
  sfnExpressPerRequest: 1 / 1e6,
  sfnExpressPerGbSecond: 0.00001667,
} as const;

export interface CostLine {
  item: string;
  usdPerMillionGroups: number;
}

export interface CostModel {
  design: string;
  groupSize: number;
  lines: CostLine[];
  total: number;
  notes: string[];
}

export interface PricingResult {
  prices: typeof PRICES;
  assumptions: string[];
  models: CostModel[];
  fixedMonthly: { item: string; usd: number }[];
}

const M = 1e6;
const total = (lines: CostLine[]) =>
  Math.round(lines.reduce((a, l) => a + l.usdPerMillionGroups, 0) * 100) / 100;
const usd = (x: number) => Math.round(x * 100) / 100;

/**
 * Collector: records per group = 1 Create + n reports + 1 outcome (outcomes share the
 * input topic by default; the collector reads and ignores them). Invocations at
 * `fill` records per batch. Duration: handler wall time per record measured by the
 * throughput bench (against DynamoDB Local), billed at FUNCTIONS.collector.memoryMb, arm64.
 */
function collectorModel(n: number, cost: WriteCostRow, secondsPerRecord: number, fill: number): CostModel {
  const records = n + 2;
  const invocations = records / fill;
  const gbSeconds = records * secondsPerRecord * (FUNCTIONS.collector.memoryMb / 1024);
  // DynamoDB Local reports 4 WCU per KB per item in TransactWriteItems; AWS bills 2 (documented):
  // half of the transactions' reported units are taken off.
  const tx = cost.collector.byCommand?.TransactWriteItems ?? 0;
  const wcu = Math.round((cost.collector.wcuPerGroup - tx / 2) * 100) / 100;
  const lines: CostLine[] = [
    {
      item: `DynamoDB writes (${wcu} WCU/group: ${cost.collector.wcuPerGroup} measured, transactions at AWS's 2 WCU/KB instead of DynamoDB Local's 4)`,
      usdPerMillionGroups: usd(wcu * PRICES.dynamoPerWru * M),
    },
    {
      item: `DynamoDB reads (${cost.collector.rcuPerGroup} RCU/group, measured)`,
      usdPerMillionGroups: usd(cost.collector.rcuPerGroup * PRICES.dynamoPerRru * M),
    },
    {
      item: `Lambda requests (${records} records / ${fill} per batch)`,
      usdPerMillionGroups: usd(invocations * PRICES.lambdaPerRequest * M),
    },
    {
      item: `Lambda duration (${(secondsPerRecord * 1000).toFixed(2)} ms/record measured, ${FUNCTIONS.collector.memoryMb} MB arm64)`,
      usdPerMillionGroups: usd(gbSeconds * PRICES.lambdaArmPerGbSecond * M),
    },
  ];
  return {
    design: 'group collector (this project)',
    groupSize: n,
    lines,
    total: total(lines),
    notes: [],
  };
}

/**
 * Step Functions Standard, callback pattern: a bridge Lambda consumes the topic
 * (same records and batches as the collector) and calls StartExecution for each
 * Create and SendTaskSuccess for each report. The state machine: Map over the
 * members; each iteration one Task `arn:aws:states:::aws-sdk:dynamodb:putItem.waitForTaskToken`
 * storing the member's task token (so the bridge can find it); after the Map a
 * Task invoking a Lambda that produces the outcome to Kafka; then the end.
 * Transitions: Map 1 + n tasks + publish 1 + end 1 = n + 3. Timeouts: the Map's
 * TimeoutSeconds (free). The bridge reads each token (1 RRU, strongly consistent).
 */
function standardModel(
  n: number,
  resultBytes: number,
  bridgeSecondsPerRecord: number,
  fill: number,
): CostModel {
  const transitions = n + 3;
  const records = n + 2;
  const tokenWcu = n * 1; // token item < 1 KB
  const tokenRru = n * 1;
  const lines: CostLine[] = [
    {
      item: `state transitions (${transitions} = Map + ${n} callback tasks + publish + end)`,
      usdPerMillionGroups: usd(transitions * PRICES.sfnStandardPerTransition * M),
    },
    {
      item: `DynamoDB token items (${tokenWcu} WCU)`,
      usdPerMillionGroups: usd(tokenWcu * PRICES.dynamoPerWru * M),
    },
    {
      item: `DynamoDB token reads by the bridge (${tokenRru} RRU)`,
      usdPerMillionGroups: usd(tokenRru * PRICES.dynamoPerRru * M),
    },
    {
      item: `bridge Lambda requests (${records} records / ${fill} per batch)`,
      usdPerMillionGroups: usd((records / fill) * PRICES.lambdaPerRequest * M),
    },
    {
      item: `bridge Lambda duration (assumed = collector's measured ms/record)`,
      usdPerMillionGroups: usd(records * bridgeSecondsPerRecord * 0.5 * PRICES.lambdaArmPerGbSecond * M),
    },
    {
      item: 'publish Lambda (1 invocation, 100 ms, 256 MB)',
      usdPerMillionGroups: usd((PRICES.lambdaPerRequest + 0.1 * 0.25 * PRICES.lambdaArmPerGbSecond) * M),
    },
  ];
  const notes: string[] = [];
  if (n * (resultBytes + 60) > 256 * 1024) {
    notes.push(
      `results (${n} × ${resultBytes} B) exceed Step Functions' 256 KiB payload limit: needs S3 offload (more cost not counted)`,
    );
  }
  return { design: 'Step Functions Standard (callback)', groupSize: n, lines, total: total(lines), notes };
}

/**
 * Step Functions Express cannot wait for callbacks (.waitForTaskToken is Standard
 * only) and runs at most 5 minutes. The fan-in becomes polling: a Lambda stores each
 * report as an item (1 WCU each, conditional put: idempotent) and the Create starts
 * one Express execution per group that loops Wait 1 s → Query the group's report
 * items (eventually consistent: 0.5 RRU per 4 KB read) until all are there or the
 * deadline passes, then invokes a Lambda that publishes the outcome. Billed per
 * request + duration at the 64 MB minimum for the time the group is open
 * (`openSeconds`); state transitions are not billed in Express.
 */
function expressModel(
  n: number,
  resultBytes: number,
  openSeconds: number,
  bridgeSecondsPerRecord: number,
  fill: number,
): CostModel {
  const records = n + 2;
  const itemBytes = resultBytes + 100;
  // Members report at random times while the group is open: on average half of them are stored at a poll.
  const rruPerPoll = Math.max(0.5, Math.ceil(((n / 2) * itemBytes) / 4096) * 0.5);
  const finalRead = Math.max(0.5, Math.ceil((n * itemBytes) / 4096) * 0.5);
  const lines: CostLine[] = [
    { item: 'Express requests (1 execution)', usdPerMillionGroups: usd(PRICES.sfnExpressPerRequest * M) },
    {
      item: `Express duration (${openSeconds} s open × 64 MB)`,
      usdPerMillionGroups: usd(openSeconds * (64 / 1024) * PRICES.sfnExpressPerGbSecond * M),
    },
    {
      item: `DynamoDB report items (${n} × ${Math.ceil(itemBytes / 1024)} WCU)`,
      usdPerMillionGroups: usd(n * Math.ceil(itemBytes / 1024) * PRICES.dynamoPerWru * M),
    },
    {
      item: `DynamoDB polls (${openSeconds} × ${rruPerPoll} RRU) + final read (${finalRead} RRU)`,
      usdPerMillionGroups: usd((openSeconds * rruPerPoll + finalRead) * PRICES.dynamoPerRru * M),
    },
    {
      item: `report Lambda requests (${records} records / ${fill} per batch)`,
      usdPerMillionGroups: usd((records / fill) * PRICES.lambdaPerRequest * M),
    },
    {
      item: 'report Lambda duration (assumed = collector ms/record)',
      usdPerMillionGroups: usd(records * bridgeSecondsPerRecord * 0.5 * PRICES.lambdaArmPerGbSecond * M),
    },
    {
      item: 'publish Lambda (1 invocation, 100 ms, 256 MB)',
      usdPerMillionGroups: usd((PRICES.lambdaPerRequest + 0.1 * 0.25 * PRICES.lambdaArmPerGbSecond) * M),
    },
  ];
  return {
    design: `Step Functions Express (polling, ${openSeconds} s open)`,
    groupSize: n,
    lines,
    total: total(lines),
    notes: [
      'no callback pattern in Express; at most 5 minutes per execution, so ttl > 300 s is impossible; no exactly-one-outcome or redelivery guarantees counted (a retried poll loop may publish twice)',
    ],
  };
}

export function pricing(
  writeCost: WriteCostRow[],
  throughput: ThroughputRow[],
  options: { groupSizes: number[]; resultBytes: number; openSeconds: number },
): PricingResult {
  const fill = KAFKA_ESM.batchSize;
  const models: CostModel[] = [];
  for (const n of options.groupSizes) {
    const cost = writeCost.find((r) => r.groupSize === n && r.resultBytes === options.resultBytes);
    if (!cost) continue;
    // Duration per record from the throughput row of the nearest group size.
    const tp = [...throughput].sort(
      (a, b) => Math.abs(Math.log(a.groupSize / n)) - Math.abs(Math.log(b.groupSize / n)),
    )[0];
    const secondsPerRecord = tp ? tp.seconds / tp.reports : 0.005;
    models.push(collectorModel(n, cost, secondsPerRecord, fill));
    models.push(standardModel(n, options.resultBytes, secondsPerRecord, fill));
    models.push(expressModel(n, options.resultBytes, options.openSeconds, secondsPerRecord, fill));
  }
  return {
    prices: PRICES,
    assumptions: [
      `full batches of ${fill} records per collector invocation (at low traffic an invocation may carry one record: requests then cost up to ${fill}× more)`,
      'Kafka (MSK) is the same for every design (the bus carries the same records) and is left out',
      "Lambda duration is the handler's wall time per record against DynamoDB Local in this run (2 shared cores); AWS DynamoDB latency differs",
      'capacity units as DynamoDB Local reports them (ReturnConsumedCapacity TOTAL) for the collector path, except transactions: DynamoDB Local reports 4 WCU per KB per item (probed: a 1-item 100 B TransactWriteItems reports 4), AWS documents 2, so their units are halved',
      'Express: its duration grows by $1.04 per million groups for every second a group stays open (64 MB); 10 s is assumed',
    ],
    models,
    fixedMonthly: [
      { item: 'sweeper: 256 MB arm64 running 58 s per minute (DESIGN.md)', usd: 8.35 },
      { item: 'sweeper: 16 deadline-index queries per second (DESIGN.md)', usd: 2.59 },
    ],
  };
}

/**
 * The three designs when every record comes alone (one record per invocation: trickle), from a
 * trickle write-cost run: the collector's measured units, and for every design Lambda requests at
 * one record per invocation. `secondsPerRecord`: the handler's wall time per record in that run.
 */
export function tricklePricing(
  n: number,
  cost: DesignCost,
  resultBytes: number,
  secondsPerRecord: number,
  openSeconds = 10,
): CostModel[] {
  return pricingAt(n, cost, resultBytes, secondsPerRecord, 1, openSeconds);
}

/**
 * The three designs from one measured group: the collector's units, the handler's wall time per
 * record and the records per invocation (`fill`) as the mapping batched them in that run; the other
 * designs' bridges get the same records in the same invocations.
 */
export function pricingAt(
  n: number,
  cost: DesignCost,
  resultBytes: number,
  secondsPerRecord: number,
  fill: number,
  openSeconds = 10,
): CostModel[] {
  const row: WriteCostRow = { groupSize: n, resultBytes, collector: cost, naive: cost };
  return [
    collectorModel(n, row, secondsPerRecord, fill),
    standardModel(n, resultBytes, secondsPerRecord, fill),
    expressModel(n, resultBytes, openSeconds, secondsPerRecord, fill),
  ];
}
