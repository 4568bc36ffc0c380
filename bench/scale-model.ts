/**
 * How far one group scales on AWS (`npm run bench:scale`), modelled from a recorded trace.
 *
 * DynamoDB Local serves every request on one thread, so per-key throttling cannot be observed here.
 * Instead one group of 10,000 members (and 1,000) runs through the real collector on DynamoDB Local
 * (`processKafkaEvent`, as `bench:orders` drives it) while bench/scale-trace.ts records every request:
 * its partition key, operation, units as AWS bills them, start and end. From the trace:
 * - per partition key, the write and read units each report consumes, and the bound AWS's per-partition
 *   ceilings (1,000 WCU/s, 3,000 RCU/s) put on reports per second;
 * - the table's ramp (a new on-demand table: 4,000 writes/s, 12,000 reads/s) over the group's units;
 * - the Kafka side: a group's records share its key, so one partition, one invocation at a time:
 *   records per invocation ÷ its time on AWS, modelled as sequential DynamoDB round trips (from the
 *   trace) × an assumed AWS latency + the handler's own time;
 * - the sweeper's single lease: timeouts per sweep ÷ the sweep's modelled time;
 * - the design for ≥ 5,000 reports/s: a larger batch on the group's partition, or reports keyed by
 *   member over P partitions (measured with P concurrent runtimes), and what reports that overtake
 *   their Create then cost (measured: early reports kept, then adopted).
 * Writes its section into bench/RESULTS.md (between markers, kept by `npm run bench`) and the raw
 * figures into bench/results/<stamp>-scale.json.
 *
 * Environment: SCALE_SIZES (default 1000,10000), SCALE_TRICKLE (reports sent one per invocation to the
 * 10,000 group; default 1000), SCALE_PARTITIONS (concurrent invocations when keyed by member; 4),
 * SCALE_EARLY (reports of the 10,000 group that overtake their Create; 1000), SCALE_SWEEP (groups of 3
 * due at once for the sweeper; 1000), SCALE_WRITE=0 (do not touch RESULTS.md).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServices } from '#local/services/index.ts';
import { KAFKA_ESM, SWEEPER } from '#shared/aws.ts';
import { processKafkaEvent } from '../functions/collector/handler.ts';
import { sweepOnce } from '../functions/sweeper/handler.ts';
import {
  type BenchRecord,
  type BenchRuntime,
  benchRuntime,
  createValue,
  doneValue,
  freshTopic,
  kafkaEvent,
  log,
  memberIds,
  newId,
  resultOf,
  round,
  sleep,
} from './lib.ts';
import { PRICES } from './pricing.ts';
import {
  breakdown,
  type InvocationShape,
  invocationShape,
  type KeyLoad,
  keyLoads,
  NEW_TABLE,
  PARTITION,
  type TracedCall,
  traceContext,
  traceRequests,
  withScaleSection,
} from './scale-trace.ts';
import { shuffled } from './write-cost.ts';

/** Stated assumptions of the AWS side (each with its source, or marked as an assumption). */
export const ASSUMED = {
  /** Per DynamoDB call on AWS: "single-digit millisecond latency" (developerguide/on-demand-capacity-mode.html). */
  dynamoMs: [5, 10] as const,
  /** A Kafka produce with acks=all to MSK in the same AZ set: an assumption, not measured. */
  produceMs: 10,
  /** Lambda CPU at 512 MB: 1,769 MB is one vCPU (lambda/latest/dg/configuration-memory.html). */
  lambdaCpuFactor: [1, 1769 / 512] as const,
  resultBytes: 100,
  target: 5000,
};

const env = process.env;
// CloudWatch EMF lines would only clutter the report on stdout (set before any runtime is built).
env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const sizes = (env.SCALE_SIZES ?? '1000,10000').split(',').map(Number);
const trickleLimit = Number(env.SCALE_TRICKLE ?? 1000);
const partitions = Number(env.SCALE_PARTITIONS ?? 4);
const earlyCount = Number(env.SCALE_EARLY ?? 1000);
const sweepGroups = Number(env.SCALE_SWEEP ?? 1000);
const writeResults = env.SCALE_WRITE !== '0';

const calls: TracedCall[] = [];
interface Invocation {
  run: string;
  inv: number;
  phase: string;
  ms: number;
  records: number;
  otherMs?: number;
  /** CPU time of this process (the handler, the SDK, kafkajs; not DynamoDB Local's JVM). */
  cpuMs?: number;
}
const invocations: Invocation[] = [];
let invCounter = 0;
let offset = 1;

/** One invocation of the collector with these records; records it failed are redelivered (as the mapping does). */
async function invoke(
  runtime: BenchRuntime,
  run: string,
  phase: string,
  records: BenchRecord[],
): Promise<void> {
  let pending = records.map((r) => ({ ...r, offset: offset++ }));
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 20) throw new Error(`${run}/${phase}: ${pending.length} records still failing`);
    if (attempt > 0) await sleep(200);
    const inv = ++invCounter;
    const started = performance.now();
    const cpu0 = process.cpuUsage();
    const out = await traceContext.run({ run, inv, phase }, () =>
      processKafkaEvent(kafkaEvent(pending), runtime),
    );
    const cpu = process.cpuUsage(cpu0);
    invocations.push({
      run,
      inv,
      phase,
      ms: performance.now() - started,
      records: pending.length,
      cpuMs: (cpu.user + cpu.system) / 1000,
    });
    const failed = new Set(out.batchItemFailures.map((f) => f.itemIdentifier.offset));
    pending = pending.filter((r) => failed.has(r.offset as number)).map((r) => ({ ...r, offset: offset++ }));
  }
}

interface GroupRun {
  run: string;
  members: number;
  arrival: string;
  batch: number;
  /** Reports sent in the report phase (all but the deciding last one, or a trickle's sample). */
  reports: number;
  decided: boolean;
  seconds: number;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * One group: Create, then its reports in arrival order (`batch` per invocation; all but the last member,
 * phase `report`), then the last report alone (phase `decide`). `limit`: send only that many reports
 * (a trickle's steady state; the group is then not decided). `early`: that many reports come before
 * the Create (phase `early`). `lanes`: reports keyed by member, over that many partitions: each lane is
 * its own runtime (execution environment), the lanes run at once.
 */
async function runGroup(
  runtimes: BenchRuntime[],
  options: { run: string; members: number; batch: number; arrival: string; limit?: number; early?: number },
): Promise<GroupRun> {
  const { run, members, batch } = options;
  const started = Date.now();
  const main = runtimes[0] as BenchRuntime;
  const group = newId();
  const ids = memberIds(group, members);
  const result = resultOf(ASSUMED.resultBytes);
  const report = (id: string): BenchRecord => ({ key: group, value: doneValue(group, id, result) });
  const order = shuffled(ids);
  const last = order[order.length - 1] as string;
  let rest = order.slice(0, -1);
  const early = options.early ?? 0;
  for (const b of chunks(rest.slice(0, early), batch)) await invoke(main, run, 'early', b.map(report));
  rest = rest.slice(early);
  await invoke(main, run, 'create', [{ key: group, value: createValue(group, ids, 900) }]);
  const sending = options.limit === undefined ? rest : rest.slice(0, options.limit);
  const batches = chunks(sending, batch);
  await Promise.all(
    runtimes.map(async (rt, lane) => {
      for (let i = lane; i < batches.length; i += runtimes.length) {
        await invoke(rt, run, 'report', (batches[i] as string[]).map(report));
      }
    }),
  );
  if (options.limit === undefined) await invoke(main, run, 'decide', [report(last)]);
  const state = await main.store.getState(group);
  const decided = state?.status === 'succeeded';
  const seconds = round((Date.now() - started) / 1000, 1);
  log(`${run}: ${sending.length} reports (${early} early), decided ${decided}, ${seconds} s`);
  return { run, members, arrival: options.arrival, batch, reports: sending.length + early, decided, seconds };
}

interface SweepRun {
  groups: number;
  due: number;
  failed: number;
  ms: number;
  publishes: number;
  publishMs: number;
  calls: number;
  depth: number;
  dynamoBusyMs: number;
  otherMs: number;
  loads: KeyLoad[];
}

/** Groups of 3 with no reports, all due; one sweep (and its lease renewal) decides and publishes them. */
async function runSweep(runtime: BenchRuntime, groups: number): Promise<SweepRun> {
  const ids = Array.from({ length: groups }, () => newId());
  for (const b of chunks(ids, KAFKA_ESM.batchSize)) {
    await invoke(
      runtime,
      'sweep',
      'create',
      b.map((g) => ({ key: g, value: createValue(g, memberIds(g, 3), 60) })),
    );
  }
  const p0 = runtime.timed.publishes;
  const ms0 = runtime.timed.publishMs;
  const inv = ++invCounter;
  const started = performance.now();
  const out = await traceContext.run({ run: 'sweep', inv, phase: 'sweep' }, async () => {
    await runtime.store.acquireSweeperLease('scale-model', Date.now(), SWEEPER.leaseMs);
    return sweepOnce(runtime, () => Date.now() + 120_000);
  });
  const ms = performance.now() - started;
  const publishMs = runtime.timed.publishMs - ms0;
  const own = calls.filter((c) => c.inv === inv);
  const shape = invocationShape(own, [{ inv, ms, records: out.due, otherMs: publishMs }]);
  log(`sweep: ${out.due} due, ${out.failed} failed, ${round(ms)} ms, ${own.length} calls`);
  return {
    groups,
    due: out.due,
    failed: out.failed,
    ms,
    publishes: runtime.timed.publishes - p0,
    publishMs,
    calls: own.length,
    depth: shape.depth,
    dynamoBusyMs: shape.dynamoBusyMs,
    otherMs: shape.otherMs,
    loads: keyLoads(own, Math.max(1, out.due)),
  };
}

// ---------------------------------------------------------------------------------------------
// The model

interface Bounds {
  perKey: KeyLoad[];
  tightestKey: KeyLoad | undefined;
  /** AWS-billed units per report over the report phase, and over the whole group. */
  wcuPerReport: number;
  rcuPerReport: number;
  wholeGroupWcuPerReport: number;
  wholeGroupRcuPerReport: number;
  tableBound: number;
  /** The decision's burst on the group key (outcome chunks, the decision, the mark). */
  decideWcuOnGroupKey: number;
  shape: InvocationShape;
  /** Reports/s of one Kafka partition, [optimistic, conservative]. */
  kafka: [number, number];
  /** Failed requests (conditional checks, cancelled transactions) per report. */
  failedPerReport: number;
  pagesPerReport: number;
  breakdown: ReturnType<typeof breakdown>;
}

/** Modelled invocation time on AWS: sequential calls × latency + handler time × Lambda CPU factor. */
export const awsMs = (depth: number, otherMs: number, dynamoMs: number, cpuFactor: number, extraMs = 0) =>
  depth * dynamoMs + otherMs * cpuFactor + extraMs;

/** Medians per invocation: the means carry this process's warm-up and a cold environment's first batch. */
function kafkaRange(shape: InvocationShape): [number, number] {
  const fast = awsMs(shape.medianDepth, shape.medianOtherMs, ASSUMED.dynamoMs[0], ASSUMED.lambdaCpuFactor[0]);
  const slow = awsMs(shape.medianDepth, shape.medianOtherMs, ASSUMED.dynamoMs[1], ASSUMED.lambdaCpuFactor[1]);
  return [(shape.recordsPerInvocation * 1000) / fast, (shape.recordsPerInvocation * 1000) / slow];
}

function boundsOf(g: GroupRun, phases: string[] = ['report']): Bounds {
  const own = calls.filter((c) => c.run === g.run);
  const steady = own.filter((c) => phases.includes(c.phase));
  const sum = (cs: TracedCall[], k: 'wcu' | 'rcu') =>
    cs.reduce((a, c) => a + c.units.reduce((b, u) => b + u[k], 0), 0);
  const reports = Math.max(1, g.reports);
  const wcu = sum(steady, 'wcu') / reports;
  const rcu = sum(steady, 'rcu') / reports;
  const all = g.decided ? g.members : reports;
  const wholeW = sum(own, 'wcu') / all;
  const wholeR = sum(own, 'rcu') / all;
  const perKey = keyLoads(steady, reports);
  const shape = invocationShape(
    steady,
    invocations.filter((i) => i.run === g.run && phases.includes(i.phase)),
  );
  const decide = own.filter((c) => c.phase === 'decide');
  const decideWcuOnGroupKey = decide.reduce(
    (a, c) =>
      a + c.units.filter((u) => !u.index && /^G#\d+:[^#]*$/.test(u.key)).reduce((b, u) => b + u.wcu, 0),
    0,
  );
  const pages = steady.filter(
    (c) => c.op === 'PutItem' && !c.failed && c.units.some((u) => u.item?.startsWith('P#')),
  );
  return {
    perKey,
    tightestKey: perKey[0],
    wcuPerReport: wcu,
    rcuPerReport: rcu,
    wholeGroupWcuPerReport: wholeW,
    wholeGroupRcuPerReport: wholeR,
    tableBound: Math.min(NEW_TABLE.wcuPerSecond / wholeW, NEW_TABLE.rcuPerSecond / Math.max(wholeR, 1e-9)),
    decideWcuOnGroupKey,
    shape,
    kafka: kafkaRange(shape),
    failedPerReport: steady.filter((c) => c.failed).length / reports,
    pagesPerReport: pages.length / reports,
    breakdown: breakdown(own),
  };
}

/** DEF reads of a run's phase: each execution environment reads the definition until it has it cached. */
function defReads(run: string, phase: string): { defReads: number; defRcu: number; defRcuPerRead: number } {
  const reads = calls.filter(
    (c) => c.run === run && c.phase === phase && c.op === 'GetItem' && c.units[0]?.item === 'DEF',
  );
  const rcu = reads.reduce((a, c) => a + (c.units[0]?.rcu ?? 0), 0);
  return { defReads: reads.length, defRcu: rcu, defRcuPerRead: reads.length ? rcu / reads.length : 0 };
}

// ---------------------------------------------------------------------------------------------
// Report

const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const n2 = (x: number) => (Number.isFinite(x) ? String(round(x, 2)) : '—');
const n3 = (x: number) => (Number.isFinite(x) ? String(round(x, 4)) : '—');
const range = ([a, b]: [number, number]) => `${n0(b)}–${n0(a)}`;

interface Results {
  date: string;
  command: string;
  machine: string;
  assumptions: typeof ASSUMED;
  runs: (GroupRun & { bounds: Bounds })[];
  sweep?: SweepRun;
  design: Record<string, unknown>;
  markdown: string;
}

function markdown(r: Omit<Results, 'markdown'>): string {
  const lines: string[] = [];
  const get = (run: string) => r.runs.find((x) => x.run === run);
  const big = Math.max(...sizes);
  const today = get(`${big}-shuffled-100`);
  const trickle = get(`${big}-trickle`);
  const b1000 = get(`${big}-shuffled-1000`);
  const keyed = get(`${big}-member-keyed-P${partitions}`);
  const early = get(`${big}-early-${earlyCount}`);
  lines.push('<!-- scale-model:begin (written by `npm run bench:scale`; kept by `npm run bench`) -->');
  lines.push('## Scale model: how far one group goes on AWS');
  lines.push('');
  lines.push(
    `Run ${r.date} on ${r.machine}: \`${r.command}\` (${Math.round(r.runs.reduce((a, x) => a + x.seconds, 0))} s of group runs). Raw figures: \`bench/results/${r.date.replace(/:/g, '-').slice(0, 19)}Z-scale.json\`.`,
  );
  lines.push('');
  lines.push(
    'DynamoDB Local serves every request on one thread, so throttling per key cannot be seen locally. The bounds below are a **model** built from a recorded trace: every DynamoDB request of the real collector (`processKafkaEvent`, reports of 100 B, members shuffled) was recorded with its partition key, operation, consumed units (`ReturnConsumedCapacity: INDEXES`, set by a bench middleware on the document client; transactions halved to AWS\'s 2 WCU per KB per item, as in bench/pricing.ts; a failed conditional write counted at 1 WCU, or a Put\'s item size, as AWS bills it) and its start and end. Per partition key: units per report, and the bound `reports/s ≤ min(1,000 WCU/s ÷ WCU per report, 3,000 RCU/s ÷ RCU per report)`. "Report phase" = every report but the deciding last one; the decision is a one-off burst, listed apart.',
  );
  lines.push('');
  lines.push('Assumptions and sources:');
  lines.push('');
  lines.push(
    `- Per partition: at most ${n0(PARTITION.wcuPerSecond)} WCU/s and ${n0(PARTITION.rcuPerSecond)} RCU/s, on-demand too (DynamoDB developer guide, TroubleshootingThrottlingOnDemand.html and warm-throughput-scenarios.html). A single item can never exceed it: adaptive capacity can isolate a hot item on its own partition, still capped (burst-adaptive-capacity.html, "isolate frequently accessed items"). Keys are taken whole (all items of a partition key on one partition), which is conservative for page partitions, exact for STATE.`,
  );
  lines.push(
    `- A new on-demand table: up to ${n0(NEW_TABLE.wcuPerSecond)} writes/s and ${n0(NEW_TABLE.rcuPerSecond)} reads/s, then up to twice the previous peak; more than double within 30 minutes may throttle (pre-warming-on-demand-capacity-mode.html; on-demand-capacity-mode.html "Initial throughput"). Warm throughput or a pre-warm lifts it. Not in AWS-FACTS.md yet.`,
  );
  lines.push(
    `- Kafka: a group's records carry its id as key, so they share one partition, and "Lambda assigns each partition to one consumer": one batch of a partition in flight at a time (AWS-FACTS.md A, [13], inferred there). Batch size ${KAFKA_ESM.batchSize} (KAFKA_ESM; max 10,000, payload ≤ 6 MB: AWS-FACTS.md A).`,
  );
  lines.push(
    `- Invocation time on AWS = sequential DynamoDB round trips (the longest chain of non-overlapping requests of the invocation, from the trace) × an assumed ${ASSUMED.dynamoMs[0]}–${ASSUMED.dynamoMs[1]} ms per call ("single-digit millisecond latency", on-demand-capacity-mode.html) + the handler's own time measured here (the larger of its wall time with no request in flight and the Node process's CPU time, \`process.cpuUsage\`; DynamoDB Local's JVM not included) × 1 to ${n2(ASSUMED.lambdaCpuFactor[1])} (a 512 MB function has 512/1,769 of a vCPU: Lambda configuration-memory.html). The range below is [${ASSUMED.dynamoMs[1]} ms, ×${n2(ASSUMED.lambdaCpuFactor[1])} CPU] – [${ASSUMED.dynamoMs[0]} ms, ×1]. The local per-invocation latency is an input only; AWS latency must be substituted, and the mapping's own poll/invoke overhead is not included (the bound is optimistic by it). A produce (sweeper) is assumed ${ASSUMED.produceMs} ms.`,
  );
  lines.push('');
  lines.push('### Per key: units per report and the bound each key sets');
  lines.push('');
  lines.push(
    '| run | key class (hottest key of the class) | keys | WCU / report | RCU / report | of which STATE item WCU | bound, reports/s |',
  );
  lines.push('| --- | --- | --- | --- | --- | --- | --- |');
  for (const x of r.runs) {
    for (const k of x.bounds.perKey) {
      lines.push(
        `| ${x.run} | ${k.keyClass} | ${k.keys} | ${n3(k.wcuPerUnit)} | ${n3(k.rcuPerUnit)} | ${n3(k.stateWcuPerUnit)} | ${n0(k.bound)} (${k.limitedBy}) |`,
      );
    }
  }
  lines.push('');
  lines.push('### One group: the three bounds');
  lines.push('');
  lines.push(
    '| run | members | arrival, records per invocation | WCU / report (report phase · whole group) | RCU / report (· whole group) | tightest key bound | table ramp bound (4,000 W / 12,000 R) | invocation (mean): calls · sequential · local ms (DynamoDB busy · handler); median sequential · handler ms | Kafka bound, one partition (reports/s) | group bound (min) |',
  );
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const x of r.runs) {
    const b = x.bounds;
    const s = b.shape;
    const kafkaLanes = x.run.includes('member-keyed') ? partitions : 1;
    const kafka: [number, number] = [b.kafka[0] * kafkaLanes, b.kafka[1] * kafkaLanes];
    const min = Math.min(b.tightestKey?.bound ?? Number.POSITIVE_INFINITY, b.tableBound, kafka[1]);
    const max = Math.min(b.tightestKey?.bound ?? Number.POSITIVE_INFINITY, b.tableBound, kafka[0]);
    lines.push(
      `| ${x.run} | ${n0(x.members)} | ${x.arrival}, ${n2(s.recordsPerInvocation)} | ${n3(b.wcuPerReport)} · ${n3(b.wholeGroupWcuPerReport)} | ${n3(b.rcuPerReport)} · ${n3(b.wholeGroupRcuPerReport)} | ${n0(b.tightestKey?.bound ?? Number.NaN)} (${b.tightestKey?.keyClass ?? '—'}) | ${n0(b.tableBound)} | ${n2(s.calls)} · ${n2(s.depth)} · ${n2(s.localMs)} (${n2(s.dynamoBusyMs)} · ${n2(s.otherMs)}); ${n2(s.medianDepth)} · ${n2(s.medianOtherMs)} | ${range(kafka)}${kafkaLanes > 1 ? ` (${kafkaLanes} partitions)` : ''} | **${n0(min)}–${n0(max)}** |`,
    );
  }
  lines.push('');
  if (today) {
    const t = today.bounds;
    lines.push(
      `Reading: today a group's records share one partition, so the Kafka bound is the binding one: a batch of ${n0(t.shape.recordsPerInvocation)} needs ${n2(t.shape.medianDepth)} sequential DynamoDB round trips (median; ${n2(t.shape.calls)} calls on average) and ${n2(t.shape.medianOtherMs)} ms of handler time here, i.e. ${range(t.kafka)} reports/s on AWS. The keys are far from their ceilings in batches (the tightest, ${t.tightestKey?.keyClass}, allows ${n0(t.tightestKey?.bound ?? Number.NaN)}/s), and the table ramp allows ${n0(t.tableBound)}/s at ${n3(t.wholeGroupWcuPerReport)} WCU per report.`,
    );
  }
  if (trickle) {
    const t = trickle.bounds;
    lines.push(
      `One report per invocation (${trickle.run}, first ${n0(trickle.reports)} reports): ${n3(t.tightestKey?.wcuPerUnit ?? Number.NaN)} WCU and ${n3(t.tightestKey?.rcuPerUnit ?? Number.NaN)} RCU per report on ${t.tightestKey?.key.slice(0, 12)}… (${t.tightestKey?.keyClass}): that key caps it at ${n0(t.tightestKey?.bound ?? Number.NaN)} reports/s, but one partition gives only ${range(t.kafka)}/s. Trickle happens when traffic is low, so it is not the case that needs 5,000/s.`,
    );
  }
  if (today) {
    lines.push(
      `The decision is a burst on the group key: ${n0(today.bounds.decideWcuOnGroupKey)} WCU (the outcome's chunks, the decision, the published mark) at once for ${n0(today.members)} members of 100 B, i.e. about ${n2(today.bounds.decideWcuOnGroupKey / PARTITION.wcuPerSecond)} s of that partition's 1,000 WCU/s: the SDK's retries absorb it, once per group; it does not limit the report rate.`,
    );
  }
  lines.push('');
  if (r.sweep) {
    const s = r.sweep;
    const fast = awsMs(
      s.depth,
      s.otherMs,
      ASSUMED.dynamoMs[0],
      ASSUMED.lambdaCpuFactor[0],
      s.publishes * ASSUMED.produceMs,
    );
    const slow = awsMs(
      s.depth,
      s.otherMs,
      ASSUMED.dynamoMs[1],
      ASSUMED.lambdaCpuFactor[1],
      s.publishes * ASSUMED.produceMs,
    );
    const keyBound = s.loads[0];
    lines.push('### The sweeper: timeouts per second one lease holder publishes');
    lines.push('');
    lines.push(
      `${n0(s.due)} groups of 3 due at once, one sweep (\`sweepOnce\` with its lease renewal; chunks of ${SWEEPER.decisionChunk}, ${SWEEPER.concurrency} decisions at once, one produce per chunk): ${n2(s.calls / Math.max(1, s.due))} DynamoDB calls per timeout, ${n0(s.depth)} sequential round trips for the whole sweep (${n2((s.depth * SWEEPER.decisionChunk) / Math.max(1, s.due))} per chunk of ${SWEEPER.decisionChunk}), ${s.publishes} produces, ${n0(s.otherMs)} ms of handler time here (${n0(s.ms)} ms wall locally). On AWS: ${n0(slow)}–${n0(fast)} ms per sweep, i.e. **${n0((s.due * 1000) / slow)}–${n0((s.due * 1000) / fast)} timeouts/s** from one lease holder (its loop is sequential: chunk after chunk). Keys: the tightest is ${keyBound?.keyClass} (${n3(keyBound?.wcuPerUnit ?? Number.NaN)} WCU, ${n3(keyBound?.rcuPerUnit ?? Number.NaN)} RCU per timeout: ${n0(keyBound?.bound ?? Number.NaN)}/s); each timed-out group writes its own keys, so no other key binds. A burst of 10,000 due at once takes ${n2((10_000 * slow) / Math.max(1, s.due) / 1000)}–${n2((10_000 * fast) / Math.max(1, s.due) / 1000)} s to publish.`,
    );
    lines.push('');
    lines.push('| sweeper key class (hottest) | keys | WCU / timeout | RCU / timeout | bound, timeouts/s |');
    lines.push('| --- | --- | --- | --- | --- |');
    for (const k of s.loads) {
      lines.push(
        `| ${k.keyClass} | ${k.keys} | ${n3(k.wcuPerUnit)} | ${n3(k.rcuPerUnit)} | ${n0(k.bound)} (${k.limitedBy}) |`,
      );
    }
    lines.push('');
  }
  lines.push(`### What reaches ≥ ${n0(ASSUMED.target)} reports/s for one group of ${n0(big)} members`);
  lines.push('');
  const d = r.design as {
    batch100?: [number, number];
    batch1000?: [number, number];
    onePagePerBatch?: [number, number];
    perRecordMs?: number;
    keyed?: {
      perPartition: [number, number];
      needed: [number, number];
      stateWcuPerReport: number;
      stateRcuPerReport: number;
      stateWcuAtTarget: number;
      stateRcuAtTarget: number;
      failedPerReport: number;
      pagesPerReport: number;
      failedPutsPerPage: number;
      failedCommitsPerPage: number;
      wcuPerReport: number;
      defReads: number;
      defRcu: number;
      defRcuPerRead: number;
    };
    early?: {
      extraWcuPerEarly: number;
      earlyWcuPerReport: number;
      stateWcuPerEarly: number;
      stateBoundEarly: number;
      usdPerMillionEarly: number;
      createDepth: number;
      createMs: number;
    };
  };
  if (d.batch100) {
    lines.push(
      `1. **Today (keyed by group, batches of ${KAFKA_ESM.batchSize})**: ${range(d.batch100)} reports/s, short of ${n0(ASSUMED.target)} on the Kafka side alone (one partition, one invocation at a time). Keys and table are far from binding.`,
    );
  }
  if (d.batch1000 && b1000) {
    lines.push(
      `2. **Same keying, BatchSize ${n0(b1000.bounds.shape.recordsPerInvocation)}** (a mapping setting; max 10,000, 6 MB payload): ${range(d.batch1000)} reports/s, barely better: the handler applies ${64} records at a time, so a page holds at most 64 reports and a batch of 1,000 still costs ${n0(b1000.bounds.shape.medianDepth)} sequential round trips (a STATE read, a page, a commit per 64). **Hook (product change, not made here):** write the reports of a group in one batch as one page (one read, one page, one commit per batch, ≤ 300 KB a page, i.e. ~2,000 reports of 100 B): with ${n2(d.perRecordMs ?? Number.NaN)} ms of handler time per record measured here, a batch of 1,000 would give ${range(d.onePagePerBatch ?? [Number.NaN, Number.NaN])} reports/s on one partition — the handler's CPU on a 512 MB function then decides (more memory = more CPU lifts the low end).`,
    );
  }
  if (d.keyed && keyed) {
    lines.push(
      `3. **Reports keyed by member over P partitions** (the client keys a report by member id, the Create by group id), measured with ${partitions} runtimes appending to the group at once, each its own execution environment: per partition ${range(d.keyed.perPartition)} reports/s, so **P = ${d.keyed.needed[0]}–${d.keyed.needed[1]} partitions** for ${n0(ASSUMED.target)}/s. But concurrent writers race for the same next page number (the protocol numbers pages densely from STATE's \`pages\`): ${n2(d.keyed.failedPutsPerPage)} failed page Puts and ${n2(d.keyed.failedCommitsPerPage)} failed commits per committed page, so ${n3(d.keyed.wcuPerReport)} WCU per report instead of ${n3(today?.bounds.wcuPerReport ?? Number.NaN)}, and ${n2(keyed.bounds.shape.medianDepth)} sequential round trips per batch instead of ${n2(today?.bounds.shape.medianDepth ?? Number.NaN)} (DynamoDB Local's slow, serialised calls widen the race; with P = ${d.keyed.needed[1]} writers on AWS it would not be narrower). **The STATE item** (each commit, failed or not, and each consistent read) carries ${n3(d.keyed.stateWcuPerReport)} WCU and ${n3(d.keyed.stateRcuPerReport)} RCU per report: at ${n0(ASSUMED.target)} reports/s, ${n0(d.keyed.stateWcuAtTarget)} WCU/s and ${n0(d.keyed.stateRcuAtTarget)} RCU/s against 1,000 and 3,000 — ${d.keyed.stateWcuAtTarget < PARTITION.wcuPerSecond && d.keyed.stateRcuAtTarget < PARTITION.rcuPerSecond ? 'under both, because a commit carries a page of up to 64 reports: batching commits is what keeps STATE under its ceiling' : 'over a ceiling'}; one report per invocation would be a commit and a read per report, ≤ 1,000 reports/s whatever P. The same partition key also takes a burst at every cold execution environment: ${n0(d.keyed.defReads)} DEF reads of ${n0(d.keyed.defRcuPerRead)} RCU (${n0(d.keyed.defRcu)} RCU; up to 64 concurrent records of a cold environment each read the 10,000-member definition before it is cached), i.e. ${n2(d.keyed.defRcu / PARTITION.rcuPerSecond)} s of the key's 3,000 RCU/s, during which STATE's consistent reads throttle too. Hooks: pages numbered per writer (a page key naming its writer, commits that add it to STATE without taking a shared number) removes the race; one DEF read per environment (a shared in-flight read) removes the burst.`,
    );
  }
  if (d.early && early) {
    lines.push(
      `4. **What keying by member costs: reports that overtake their Create.** The Create travels on the group's partition, the reports on others, so a lagging partition lets reports arrive first. Measured with ${n0(earlyCount)} of ${n0(big)} reports before the Create: an early report costs ${n2(d.early.earlyWcuPerReport)} WCU when kept (a transaction: its member item with the raw record, and the early mark on the group's STATE key) and ${n2(d.early.extraWcuPerEarly)} WCU more than an in-order report over the whole group (kept, claimed and adopted into a page by the Create, deleted) = **$${n2(d.early.usdPerMillionEarly)} per million early reports** at $0.625 per million WRU; at a fraction f of reports early the group pays f × ${n2(d.early.extraWcuPerEarly)} WCU more per report (f = 1%: +${n3(0.01 * d.early.extraWcuPerEarly)}; 10%: +${n3(0.1 * d.early.extraWcuPerEarly)}, against ${n3(today?.bounds.wholeGroupWcuPerReport ?? Number.NaN)} in order). Each early report writes the STATE item (${n2(d.early.stateWcuPerEarly)} WCU), so one group keeps at most ${n0(d.early.stateBoundEarly)} early reports/s, and ${n0(LIMITS_EARLY)} in all (\`too-many-early-reports\` beyond). The Create that adopts them is sequential: ${n0(d.early.createDepth)} round trips for ${n0(earlyCount)} (${n0(d.early.createMs)} ms locally; ${n2((d.early.createDepth * ASSUMED.dynamoMs[0]) / 1000)}–${n2((d.early.createDepth * ASSUMED.dynamoMs[1]) / 1000)} s on AWS), and the group's reports wait for it (adoption pending).`,
    );
  }
  lines.push('');
  const keyedOk =
    d.keyed &&
    d.keyed.stateWcuAtTarget < PARTITION.wcuPerSecond &&
    d.keyed.stateRcuAtTarget < PARTITION.rcuPerSecond;
  lines.push(
    `**Answer.** Not today: one group is one partition, ${range(d.batch100 ?? [Number.NaN, Number.NaN])} reports/s. A larger batch alone does not get there (pages of 64). Two ways do, in this model: (a) keep the group's key and make a batch one page (a product change in the handler/pages) with BatchSize ≥ 1,000 — ${range(d.onePagePerBatch ?? [Number.NaN, Number.NaN])} reports/s, ${(d.onePagePerBatch?.[1] ?? 0) >= ASSUMED.target ? 'enough at both ends' : (d.onePagePerBatch?.[0] ?? 0) >= ASSUMED.target ? "enough unless the handler's CPU on 512 MB is the conservative figure (then more memory)" : 'not enough'}; no extra units and no early reports; or (b) key reports by member over P = ${d.keyed?.needed[0] ?? '?'}–${d.keyed?.needed[1] ?? '?'} partitions: the STATE item stays ${keyedOk ? 'under' : 'over'} its ceilings (${n0(d.keyed?.stateWcuAtTarget ?? Number.NaN)} WCU/s, ${n0(d.keyed?.stateRcuAtTarget ?? Number.NaN)} RCU/s at ${n0(ASSUMED.target)}/s) only because commits are batched, but it needs pages numbered per writer (today's shared number makes concurrent writers fail ${n2(d.keyed?.failedPutsPerPage ?? Number.NaN)} Puts per page), a single DEF read per environment, and pays $${n2(d.early?.usdPerMillionEarly ?? Number.NaN)} per million reports that overtake their Create, capped at ${n0(d.early?.stateBoundEarly ?? Number.NaN)} early reports/s per group. The table's initial ${n0(NEW_TABLE.wcuPerSecond)} WCU/s holds either (${n0(ASSUMED.target * (today?.bounds.wholeGroupWcuPerReport ?? 0))} WCU/s in order at ${n3(today?.bounds.wholeGroupWcuPerReport ?? Number.NaN)} per report; ${n0(ASSUMED.target * (keyed?.bounds.wholeGroupWcuPerReport ?? 0))} WCU/s keyed by member with today's race). The trace needed no product hook (a middleware on \`store.doc\`).`,
  );
  lines.push('');
  lines.push('<!-- scale-model:end -->');
  return lines.join('\n');
}

const LIMITS_EARLY = 10_000;

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const started = Date.now();
  const services = await startServices();
  const outcomeTopic = await freshTopic(services, 'scale-out', 3, { 'max.message.bytes': '4000000' });
  const make = async (name: string) => {
    const rt = await benchRuntime(services, name, { maxOutcomeBytes: 3_500_000, outcomeTopic });
    traceRequests(rt.store.doc.middlewareStack, calls);
    return rt;
  };
  const runtimes: BenchRuntime[] = [];
  const runs: GroupRun[] = [];
  let sweep: SweepRun | undefined;
  try {
    const main = await make('scale');
    runtimes.push(main);
    const big = Math.max(...sizes);
    for (const m of sizes) {
      runs.push(
        await runGroup([main], {
          run: `${m}-shuffled-100`,
          members: m,
          batch: KAFKA_ESM.batchSize,
          arrival: 'shuffled',
        }),
      );
      runs.push(
        await runGroup([main], {
          run: `${m}-trickle`,
          members: m,
          batch: 1,
          arrival: 'trickle',
          ...(m === big && trickleLimit < m - 1 ? { limit: trickleLimit } : {}),
        }),
      );
    }
    runs.push(
      await runGroup([main], { run: `${big}-shuffled-1000`, members: big, batch: 1000, arrival: 'shuffled' }),
    );
    const lanes = [main];
    for (let i = 1; i < partitions; i++) lanes.push(await make(`scale-p${i}`));
    runtimes.push(...lanes.slice(1));
    runs.push(
      await runGroup(lanes, {
        run: `${big}-member-keyed-P${partitions}`,
        members: big,
        batch: KAFKA_ESM.batchSize,
        arrival: `keyed by member, ${partitions} partitions at once`,
      }),
    );
    runs.push(
      await runGroup([main], {
        run: `${big}-early-${earlyCount}`,
        members: big,
        batch: KAFKA_ESM.batchSize,
        arrival: `${earlyCount} before the Create`,
        early: earlyCount,
      }),
    );
    if (sweepGroups > 0) {
      const sweeper = await make('scale-sweep');
      runtimes.push(sweeper);
      sweep = await runSweep(sweeper, sweepGroups);
    }
  } finally {
    for (const rt of runtimes) await rt.close();
    await services.stop();
  }

  const withBounds = runs.map((g) => ({ ...g, bounds: boundsOf(g) }));
  const big = Math.max(...sizes);
  const get = (run: string) => withBounds.find((x) => x.run === run);
  const design: Record<string, unknown> = {};
  const today = get(`${big}-shuffled-100`);
  if (today) design.batch100 = today.bounds.kafka;
  const b1000 = get(`${big}-shuffled-1000`);
  if (b1000) design.batch1000 = b1000.bounds.kafka;
  if (b1000) {
    // Hook (not built): the reports of a group in one batch as one page whatever their number, so a batch
    // costs a STATE read, a page and a commit (3 round trips) plus the handler's own time per record.
    const s = b1000.bounds.shape;
    const perRecord = s.medianOtherMs / Math.max(1, s.recordsPerInvocation);
    const at = (dynamoMs: number, cpu: number) =>
      (s.recordsPerInvocation * 1000) / awsMs(3, perRecord * s.recordsPerInvocation, dynamoMs, cpu);
    design.onePagePerBatch = [
      at(ASSUMED.dynamoMs[0], ASSUMED.lambdaCpuFactor[0]),
      at(ASSUMED.dynamoMs[1], ASSUMED.lambdaCpuFactor[1]),
    ];
    design.perRecordMs = perRecord;
  }
  const keyed = get(`${big}-member-keyed-P${partitions}`);
  if (keyed) {
    const steady = calls.filter((c) => c.run === keyed.run && c.phase === 'report');
    const onState = (k: 'wcu' | 'rcu') =>
      steady.reduce(
        (a, c) => a + c.units.filter((u) => u.item === 'STATE').reduce((b, u) => b + u[k], 0),
        0,
      ) / Math.max(1, keyed.reports);
    const state = { wcuPerUnit: onState('wcu'), rcuPerUnit: onState('rcu') };
    const failedPuts = steady.filter((c) => c.failed && c.op === 'PutItem').length;
    const failedCommits = steady.filter((c) => c.failed && c.op === 'UpdateItem').length;
    const perPartition = keyed.bounds.kafka;
    design.keyed = {
      perPartition,
      needed: [Math.ceil(ASSUMED.target / perPartition[0]), Math.ceil(ASSUMED.target / perPartition[1])],
      stateWcuPerReport: state?.wcuPerUnit ?? 0,
      stateRcuPerReport: state?.rcuPerUnit ?? 0,
      stateWcuAtTarget: (state?.wcuPerUnit ?? 0) * ASSUMED.target,
      stateRcuAtTarget: (state?.rcuPerUnit ?? 0) * ASSUMED.target,
      failedPerReport: keyed.bounds.failedPerReport,
      pagesPerReport: keyed.bounds.pagesPerReport,
      failedPutsPerPage: failedPuts / Math.max(1, keyed.bounds.pagesPerReport * keyed.reports),
      failedCommitsPerPage: failedCommits / Math.max(1, keyed.bounds.pagesPerReport * keyed.reports),
      wcuPerReport: keyed.bounds.wcuPerReport,
      ...defReads(keyed.run, 'report'),
    };
  }
  const early = get(`${big}-early-${earlyCount}`);
  if (early && today && earlyCount > 0) {
    const earlyBounds = boundsOf(early, ['early']);
    const earlyReports = earlyCount;
    const state = earlyBounds.perKey.find((k) => k.keyClass === 'group key G#g (STATE, DEF, OUT)');
    const stateWcuPerEarly = ((state?.wcuPerUnit ?? 0) * Math.max(1, early.reports)) / earlyReports;
    const extra =
      ((early.bounds.wholeGroupWcuPerReport - today.bounds.wholeGroupWcuPerReport) * big) / earlyReports;
    const create = invocations.filter((i) => i.run === early.run && i.phase === 'create');
    const createShape = invocationShape(
      calls.filter((c) => c.run === early.run && c.phase === 'create'),
      create,
    );
    design.early = {
      earlyWcuPerReport: (earlyBounds.wcuPerReport * Math.max(1, early.reports)) / earlyReports,
      extraWcuPerEarly: extra,
      stateWcuPerEarly,
      stateBoundEarly:
        stateWcuPerEarly > 0 ? PARTITION.wcuPerSecond / stateWcuPerEarly : Number.POSITIVE_INFINITY,
      usdPerMillionEarly: extra * PRICES.dynamoPerWru * 1e6,
      createDepth: createShape.depth * createShape.invocations,
      createMs: createShape.localMs * createShape.invocations,
    };
  }
  const date = new Date(started).toISOString();
  const cpu = cpus();
  const partial: Omit<Results, 'markdown'> = {
    date,
    command: 'npm run bench:scale',
    machine: `${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}, Node ${process.version}, DynamoDB Local and Kafka on the same machine (1-minute load average ${(loadavg()[0] ?? 0).toFixed(1)} at the end of the run: the handler times below are wall and CPU times on it)`,
    assumptions: ASSUMED,
    runs: withBounds,
    ...(sweep ? { sweep } : {}),
    design,
  };
  if (env.SCALE_DEBUG)
    for (const x of withBounds) log(`${x.run} ${JSON.stringify(x.bounds.breakdown, null, 1)}`);
  const md = markdown(partial);
  const results: Results = { ...partial, markdown: md };
  console.log(md);
  if (writeResults) {
    const here = fileURLToPath(new URL('.', import.meta.url));
    mkdirSync(join(here, 'results'), { recursive: true });
    writeFileSync(
      join(here, 'results', `${date.replace(/:/g, '-').slice(0, 19)}Z-scale.json`),
      `${JSON.stringify({ ...results, markdown: undefined }, null, 1)}\n`,
    );
    const path = join(here, 'RESULTS.md');
    writeFileSync(path, withScaleSection(readFileSync(path, 'utf8'), md));
    log(`wrote ${path} (scale-model section) in ${Math.round((Date.now() - started) / 1000)} s`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
