/**
 * Turns one run's results into RESULTS.md and SVG charts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barChart, lineChart } from './chart.ts';
import type { ColdStartResult } from './cold-start.ts';
import type { LatencyResult } from './latency.ts';
import type { PricingResult } from './pricing.ts';
import type { CopiesResult, ThroughputRow } from './throughput.ts';
import type { PunctualityResult } from './timeouts.ts';
import type { WriteCostRow } from './write-cost.ts';

export interface RunResults {
  startedAt: string;
  mode: 'quick' | 'full';
  command: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string };
  durationSeconds?: number;
  throughput?: ThroughputRow[];
  copies?: CopiesResult;
  latency?: LatencyResult;
  writeCost?: { rows: WriteCostRow[]; naiveLimit?: { resultBytes: number; failedAtReport: number } };
  timeouts?: PunctualityResult;
  coldStart?: ColdStartResult;
  pricing?: PricingResult;
  errors: { section: string; error: string }[];
}

const n = (x: number | undefined, digits = 1) =>
  x === undefined || !Number.isFinite(x)
    ? 'n/a'
    : x.toLocaleString('en-US', { maximumFractionDigits: digits });

const table = (head: string[], rows: (string | number)[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

export function writeCharts(r: RunResults, dir: string): string[] {
  const files: string[] = [];
  const put = (name: string, svg: string) => {
    writeFileSync(join(dir, name), svg);
    files.push(name);
  };
  if (r.throughput?.length) {
    put(
      'throughput.svg',
      barChart({
        title: 'Reports per second: collector vs. raw UpdateItem ÷ calls per report',
        categories: r.throughput.map((t) => `groups of ${t.groupSize} (${t.effectiveConcurrency} at once)`),
        series: [
          { name: 'collector reports/s', values: r.throughput.map((t) => t.reportsPerSecond) },
          {
            name: 'raw UpdateItem/s ÷ calls per report',
            values: r.throughput.map((t) => Math.round(t.raw.perSecond / t.dynamoCallsPerReport)),
          },
          { name: 'raw UpdateItem/s', values: r.throughput.map((t) => t.raw.perSecond) },
        ],
        yLabel: 'per second',
      }),
    );
  }
  if (r.latency) {
    const b = r.latency.breakdown;
    const parts = [
      ['broker → handler', b.brokerInMs],
      ['store before publish', b.storeBeforePublishMs],
      ['handler before publish', b.handlerBeforePublishMs],
      ['publish → received', b.publishToReceiveMs],
    ] as const;
    put(
      'latency.svg',
      barChart({
        title: `Last report produced → outcome received, via the local Kafka mapping (n=${r.latency.samples})`,
        categories: ['total', ...parts.map((p) => p[0])],
        series: [
          { name: 'p50 ms', values: [r.latency.total.p50, ...parts.map((p) => p[1].p50)] },
          { name: 'p95 ms', values: [r.latency.total.p95, ...parts.map((p) => p[1].p95)] },
          { name: 'p99 ms', values: [r.latency.total.p99, ...parts.map((p) => p[1].p99)] },
        ],
        yLabel: 'milliseconds',
      }),
    );
  }
  if (r.writeCost?.rows.length) {
    const sizes = [...new Set(r.writeCost.rows.map((w) => w.groupSize))];
    const bytes = [...new Set(r.writeCost.rows.map((w) => w.resultBytes))];
    const series = bytes.flatMap((b) => {
      const of = (s: number) => r.writeCost?.rows.find((w) => w.groupSize === s && w.resultBytes === b);
      return [
        { name: `collector ${b} B`, values: sizes.map((s) => of(s)?.collector.wcuPerReport ?? null) },
        {
          name: `naive ${b} B`,
          values: sizes.map((s) => {
            const row = of(s);
            return row && !row.naive.failedAtReport ? row.naive.wcuPerReport : null;
          }),
        },
      ];
    });
    put(
      'write-cost.svg',
      lineChart({
        title: 'WCU per report (log scale); a gap = the naive item hit 400 KB',
        categories: sizes.map((s) => `${s} members`),
        series,
        logY: true,
        yLabel: 'WCU per report',
      }),
    );
  }
  if (r.timeouts?.scenarios.length) {
    put(
      'timeouts.svg',
      barChart({
        title: `Timeout published − deadline (sweeper every ${r.timeouts.intervalMs} ms)`,
        categories: r.timeouts.scenarios.map((s) => `${s.groups} groups, ${s.name}`),
        series: [
          { name: 'p50 ms', values: r.timeouts.scenarios.map((s) => s.lateByTimestampMs.p50) },
          { name: 'p99 ms', values: r.timeouts.scenarios.map((s) => s.lateByTimestampMs.p99) },
          { name: 'max ms', values: r.timeouts.scenarios.map((s) => s.lateByTimestampMs.max) },
        ],
        yLabel: 'milliseconds late',
      }),
    );
  }
  if (r.coldStart?.rows.length) {
    const fns = [...new Set(r.coldStart.rows.map((c) => c.fn))];
    const of = (fn: string, v: string) => r.coldStart?.rows.find((c) => c.fn === fn && c.variant === v);
    put(
      'cold-start.svg',
      barChart({
        title: 'Cold start in a fresh Node process (median): import + build clients',
        categories: fns.flatMap((f) => [`${f} (SDK ext.)`, `${f} (bundled)`]),
        series: [
          {
            name: 'import ms',
            values: fns.flatMap((f) => [
              of(f, 'sdk-external')?.importMs ?? null,
              of(f, 'all-bundled')?.importMs ?? null,
            ]),
          },
          {
            name: 'clients ms',
            values: fns.flatMap((f) => [
              of(f, 'sdk-external')?.clientsMs ?? null,
              of(f, 'all-bundled')?.clientsMs ?? null,
            ]),
          },
        ],
        yLabel: 'milliseconds',
      }),
    );
  }
  if (r.pricing?.models.length) {
    const sizes = [...new Set(r.pricing.models.map((m) => m.groupSize))];
    const designs = [...new Set(r.pricing.models.map((m) => m.design))];
    put(
      'cost.svg',
      barChart({
        title: 'USD per million groups (us-east-1, log scale)',
        categories: sizes.map((s) => `groups of ${s}`),
        series: designs.map((d) => ({
          name: d,
          values: sizes.map(
            (s) => r.pricing?.models.find((m) => m.design === d && m.groupSize === s)?.total ?? null,
          ),
        })),
        logY: true,
        yLabel: 'USD per 1M groups',
        height: 400,
      }),
    );
  }
  return files;
}

export function resultsMarkdown(r: RunResults, jsonName: string, chartDir: string): string {
  const out: string[] = [];
  const tp = r.throughput ?? [];
  const lat = r.latency;
  const wc = r.writeCost;
  const to = r.timeouts;
  const cs = r.coldStart;
  const pr = r.pricing;
  out.push(
    '# Benchmark results',
    '',
    `Generated by \`${r.command}\` on ${r.startedAt} (${r.mode} mode, ${n(r.durationSeconds, 0)} s), ` +
      `${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}. Raw numbers: \`bench/results/${jsonName}\`.`,
    '',
    'Everything runs against a real Kafka 4.4 broker and DynamoDB Local 2.6.1 started by the bench on 127.0.0.1, ' +
      'fresh for each section (DynamoDB Local serves every request on one SQLite thread and slows as tables and streams grow), ' +
      'on a 2-core machine: absolute rates are low and noisy; ratios are measured in the same section.',
    '',
    '## Headline',
    '',
  );
  const head: string[] = [];
  for (const t of tp) {
    head.push(
      `- **Throughput, groups of ${t.groupSize}:** ${n(t.reportsPerSecond, 0)} reports/s through \`processKafkaEvent\` ` +
        `(${t.dynamoCallsPerReport} DynamoDB calls per report) = **${t.efficiency}×** the raw conditional-UpdateItem rate ` +
        `÷ calls per report (target ≥ 0.5; ${t.efficiencyWritesOnly}× counting writes only).`,
    );
  }
  if (r.copies) {
    head.push(
      `- **Copies per group** without faults: ${r.copies.groups} groups of 3 whose last two reports, each sent twice, reach two invocations at once: ` +
        `${r.copies.outcomes} outcomes = **${r.copies.copiesPerGroup}** per group (target 1.000; 119 for 60 groups before outcomes were published under a lease).`,
    );
  }
  if (lat) {
    head.push(
      `- **Latency**, last report produced → outcome received through the local Kafka event source mapping (window 0): p50 **${lat.total.p50} ms**, p95 ${lat.total.p95} ms, p99 ${lat.total.p99} ms ` +
        `(of which DynamoDB p50 ${lat.breakdown.storeBeforePublishMs.p50} ms, broker → handler p50 ${lat.breakdown.brokerInMs.p50} ms).`,
    );
  }
  if (wc) {
    const pick = (s: number, b: number) => wc.rows.find((w) => w.groupSize === s && w.resultBytes === b);
    const a = pick(3, 100);
    const z = pick(1000, 100);
    const zk = pick(1000, 1000);
    if (a && z) {
      head.push(
        `- **Write cost** per report, 100 B results: ${a.collector.wcuPerReport} WCU at 3 members, ${z.collector.wcuPerReport} WCU at 1,000 ` +
          `(naive single item: ${a.naive.wcuPerReport} → ${z.naive.wcuPerReport} WCU)` +
          (zk?.naive.failedAtReport
            ? `; with 1 KB results the naive item hits 400 KB at report ${zk.naive.failedAtReport}.`
            : '.'),
      );
    }
  }
  if (to) {
    for (const s of to.scenarios) {
      head.push(
        `- **Timeouts**, ${s.groups} groups ${s.name}: published p50 **${s.lateByTimestampMs.p50} ms**, p99 ${s.lateByTimestampMs.p99} ms after the deadline ` +
          `(${s.published}/${s.groups} published).`,
      );
    }
  }
  if (cs) {
    const c = cs.rows.find((x) => x.fn === 'collector' && x.variant === 'sdk-external');
    const cb = cs.rows.find((x) => x.fn === 'collector' && x.variant === 'all-bundled');
    if (c && cb) {
      head.push(
        `- **Cold start**, collector: ${n(c.bytes / 1024)} KiB bundle with @aws-sdk external (${n(cb.bytes / 1024)} KiB all bundled); ` +
          `import + clients ${n(c.importMs + c.clientsMs)} ms (${n(cb.importMs + cb.clientsMs)} ms bundled), median of ${c.runs}.`,
      );
    }
  }
  if (pr) {
    for (const size of [...new Set(pr.models.map((m) => m.groupSize))]) {
      const ms = pr.models.filter((m) => m.groupSize === size);
      head.push(
        `- **Cost per million groups of ${size}:** ${ms.map((m) => `${m.design} **$${n(m.total, 2)}**`).join('; ')}.`,
      );
    }
  }
  out.push(
    ...head,
    '',
    'Reproduce: `npm run bench` (full, ~10–15 min) or `npm run bench -- --quick` (< 2 min).',
    '',
  );
  if (r.errors.length) {
    out.push(
      '**Sections that failed in this run:**',
      '',
      ...r.errors.map((e) => `- ${e.section}: ${e.error}`),
      '',
    );
  }

  if (tp.length) {
    out.push(
      '## 1. Throughput',
      '',
      'Reports of several open groups, shuffled (members finish in random order), fed to `processKafkaEvent` in batches of 100, ' +
        'one invocation at a time (one poller); the groups are created before, so the batches hold reports only. ' +
        "The handler (functions/collector/handler.ts) applies a batch's Creates first, then its other records 64 at a time, " +
        'records of the same group included (every write is conditional or idempotent); every record here is the report of a distinct member, ' +
        'so the concurrency is min(64, records in the batch), whatever the group size (the per-group "lanes" of earlier versions are gone). A report of a group of at most 8 members (one item: LAYOUT.single) is one conditional UpdateItem of its STATE, shared with the ' +
        "group's other reports handled at once; its reply carries the group's state, so the report that completes it decides without a read, " +
        'publishes and marks the group published. A report of a larger group reads STATE (one read shared by the reports of the group in flight; DEF cached per ' +
        'execution environment) and joins the page of the group’s reports handled at once (one new item, then one conditional commit of STATE); the commit that counts every member reads ' +
        'the committed pages, decides, publishes and marks the group published. ' +
        'The raw rate is conditional UpdateItem calls (document client, fresh items) at the same concurrency on the same DynamoDB Local, ' +
        'measured just before and just after the collector (their mean; the section first warms the fresh JVM with as many calls). ' +
        'Efficiency = collector reports/s ÷ (raw calls/s ÷ DynamoDB calls per report); target ≥ 0.5.',
      '',
      table(
        [
          'group size',
          'groups',
          'reports',
          'concurrency',
          'reports/s',
          'raw UpdateItem/s (before / after)',
          'calls/report (writes + reads)',
          'efficiency',
          'writes-only efficiency',
        ],
        tp.map((t) => [
          t.groupSize,
          t.groups,
          t.reports,
          t.effectiveConcurrency,
          n(t.reportsPerSecond, 0),
          t.raw.before === undefined
            ? n(t.raw.perSecond, 0)
            : `${n(t.raw.perSecond, 0)} (${n(t.raw.before, 0)} / ${n(t.raw.after, 0)})`,
          `${t.dynamoCallsPerReport} (${t.writesPerReport} + ${t.readsPerReport})`,
          t.efficiency,
          t.efficiencyWritesOnly,
        ]),
      ),
      '',
      'Calls per report by command: ' +
        tp
          .map(
            (t) =>
              `groups of ${t.groupSize}: ${Object.entries(t.callsByCommand)
                .map(([k, v]) => `${k.replace('Command', '')} ${v}`)
                .join(', ')}`,
          )
          .join('; ') +
        '.',
      '',
      `![throughput](${chartDir}throughput.svg)`,
      '',
    );
  }
  if (lat) {
    const b = lat.breakdown;
    const row = (label: string, x: { p50: number; p95: number; p99: number; max: number }) => [
      label,
      x.p50,
      x.p95,
      x.p99,
      x.max,
    ];
    out.push(
      '## 2. Latency',
      '',
      `Method: ${lat.method}. ` +
        `Each sample: a group of ${lat.groupSize} is created and all but one member report (10 groups prepared per round); once the collector has applied those, each group's last report is produced in turn ` +
        '(t0) and the time until a consumer of the outcome topic receives the outcome is measured. Samples are sequential (an idle system, not a loaded one). ' +
        "The parts are timed inside the collector function's runtime: the record (a wrapper around `collector.handleRecord`), its DynamoDB calls " +
        "(a middleware on the runtime's document client, `store.doc.middlewareStack`) and its outcome publish (a wrapper around the runtime's publisher). " +
        'The four parts of the critical path add up to the total, sample by sample. The in-process method of earlier runs (a kafkajs consumer playing the mapping) is retired: this one exercises the real mapping path.',
      '',
      table(
        ['part', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
        [
          row('**total** (t0 → outcome received)', lat.total),
          row(
            'broker → handler (t0 → the collector starts the record: produce, mapping fetch, invoke)',
            b.brokerInMs,
          ),
          row(
            `store before the publish (wall time with a DynamoDB call in flight; ${lat.storeCallsOfLastReport} calls in all)`,
            b.storeBeforePublishMs,
          ),
          row('handler before the publish (decode, rules, outcome JSON)', b.handlerBeforePublishMs),
          row('outcome publish start → consumer receives (broker)', b.publishToReceiveMs),
          row('— of which the produce call (acks=all)', b.publishCallMs),
          row('off the path: store after the publish (published mark)', b.storeAfterPublishMs),
          row('for reference: produce ack of the last report (t0 → ack)', b.produceAckMs),
          row(
            'for reference: all DynamoDB calls of the record summed (parallel queries each)',
            lat.storeSumMs,
          ),
        ],
      ),
      '',
      `DynamoDB calls of the last report, mean per sample: ${Object.entries(lat.storeCallsByCommand)
        .map(([k, v]) => `${k} ${v}`)
        .join(
          ', ',
        )}; ${lat.storeMeanCallMs ?? 'n/a'} ms per call on average (the member-bucket Queries run in parallel: a group of ${lat.groupSize} reads at most ${Math.min(lat.groupSize, 8)} buckets). ` +
        "On AWS add the mapping's batching window (the collector's mapping sets 1 s; AWS default 500 ms), " +
        'Lambda invoke overhead and the network between Lambda, DynamoDB and the brokers.',
      '',
      `![latency](${chartDir}latency.svg)`,
      '',
    );
  }
  if (wc) {
    out.push(
      '## 3. Write cost',
      '',
      'Consumed capacity reported by DynamoDB Local (`ReturnConsumedCapacity: TOTAL`; single-item calls report `CapacityUnits`, transactions `WriteCapacityUnits`). ' +
        'Collector: `store.meter` over the real code path (a small group: Create Put, STATE updates shared by the reports of a batch, the outcome item, the decision, the published mark; a larger group: Create transaction, report pages and their commits, the decision with its outcome bytes, the published mark; the deadline index writes included; members report in a shuffled order, in batches of 100). ' +
        'Naive: one item per group, `UpdateItem SET results.#m = :r` per report (conditional on open and not yet reported), a final status update and a consistent read of the item to publish. ' +
        '"per report" excludes the last report (the decision); "per group" is everything.',
      '',
      table(
        [
          'members',
          'result',
          'collector WCU/report',
          'naive WCU/report',
          'collector WCU/group',
          'naive WCU/group',
          'collector RCU/group',
          'naive RCU/group',
          'naive last report WCU',
        ],
        wc.rows.map((w) => [
          w.groupSize,
          `${w.resultBytes} B`,
          w.collector.wcuPerReport,
          w.naive.failedAtReport
            ? `**400 KB limit at report ${w.naive.failedAtReport}**`
            : w.naive.wcuPerReport,
          w.collector.completed
            ? w.collector.wcuPerGroup
            : `${w.collector.wcuPerGroup} (failed: outcome over the 1 MB limit)`,
          w.naive.failedAtReport ? 'fails' : w.naive.wcuPerGroup,
          w.collector.rcuPerGroup,
          w.naive.failedAtReport ? 'fails' : w.naive.rcuPerGroup,
          w.naive.failedAtReport ? 'fails' : w.naive.wcuLastReport,
        ]),
      ),
      '',
      `Collector capacity of a whole group by DynamoDB command (100 B results): ${wc.rows
        .filter((w) => w.resultBytes === 100)
        .map(
          (w) =>
            `${w.groupSize} members: ${Object.entries(w.collector.byCommand ?? {})
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}`,
        )
        .join('; ')} (TransactWriteItems = a larger group's Create; GetItem/Query/BatchGetItem = reads). ` +
        "Note: DynamoDB Local reports 4 WCU per KB per item in a transaction (a 1-item 100 B TransactWriteItems reports 4); AWS documents 2, so the transaction share of the collector's per-group figures is twice what AWS would bill (the cost section corrects for it).",
      '',
      wc.naiveLimit
        ? `With ${wc.naiveLimit.resultBytes} B results the naive item refuses report ${wc.naiveLimit.failedAtReport} (DynamoDB's 400 KB item limit); the collector has no such limit (LIMITS.maxMembers = 10,000; the outcome itself is bounded by the topic's message size).`
        : '',
      '',
      `![write cost](${chartDir}write-cost.svg)`,
      '',
    );
  }
  if (to) {
    out.push(
      '## 4. Timeout punctuality',
      '',
      `The sweeper runs \`sweepLoop\` in-process every ${to.intervalMs} ms, as startLocalCollector runs it (${to.sweeps} sweeps, ${to.concurrency} decisions at once). ` +
        `Groups of 3 members with no reports are created through \`processKafkaEvent\` (batches of 100, ${to.creation.pollers} at once) with their creation time passed as \`now\` ` +
        '(deadline − ttl, ttl 600 s), so that each deadline falls exactly where wanted. ' +
        `All ${to.creation.groups} groups of both scenarios are created before the first deadline (${to.creation.seconds} s, ${to.creation.msPerCreate} ms per group; first deadline ${n(to.creation.marginMs / 1000, 0)} s after creation started), ` +
        'so creation never competes with the sweeper during the measurement; the same-second scenario expires after the spread one has cleared. ' +
        "Published time = the outcome's Kafka timestamp (CreateTime, set by the producer when it sends), and also when a consumer received it. " +
        "The groups live in a separate table without TTL, so that DynamoDB Local's TTL (1–11 s after expiry) cannot race the sweeper with no stream handler running.",
      '',
      table(
        [
          'scenario',
          'groups',
          'published',
          'p50 ms late',
          'p99 ms late',
          'max ms late',
          'p50 received',
          'p99 received',
          'all out after first deadline',
        ],
        to.scenarios.map((s) => [
          s.name,
          s.groups,
          s.published + (s.createdLate ? ` (${s.createdLate} created late)` : ''),
          s.lateByTimestampMs.p50,
          s.lateByTimestampMs.p99,
          s.lateByTimestampMs.max,
          s.lateByReceiveMs.p50,
          s.lateByReceiveMs.p99,
          `${n(s.clearedAfterMs / 1000, 1)} s`,
        ]),
      ),
      '',
      `One chunk of due groups decided by the sweeper (\`collector.timeoutGroups\`: states, definitions and reports by BatchGetItem, decisions ${to.concurrency} at once, one produce, marks; ${to.chunkGroups} groups per chunk on average): p50 ${to.timeoutGroupMs.p50} ms, p99 ${to.timeoutGroupMs.p99} ms; ` +
        `${to.sweeperCallsPerGroup} DynamoDB calls per timed-out group (all the sweeper's calls, index queries included, ÷ groups published; ${to.sweeperCallsPerGroupBesidesIndex ?? '–'} without the 16 index Queries every sweep makes whatever is due) at ${to.sweeperMeanCallMs} ms mean per call under this load; ` +
        `outcome publish ${to.sweeperPublishMeanMs} ms mean.`,
      '',
      `![timeouts](${chartDir}timeouts.svg)`,
      '',
    );
  }
  if (cs) {
    out.push(
      '## 5. Cold start',
      '',
      `${cs.settings}; esbuild ${cs.esbuild}, measured on Node ${cs.node} (Lambda runs node22). ` +
        'Time = in a fresh `node` process: `await import(bundle)`, then `environmentRuntime()` (DynamoDB client, Kafka publisher, logger, metrics; nothing connects). ' +
        'With `@aws-sdk/*` external the SDK loads from node_modules, as the nodejs22.x runtime loads its own copy. Process = whole `node` run including its own start.',
      '',
      table(
        ['function', 'variant', 'bundle KiB', 'gzip KiB', 'import ms', 'clients ms', 'process ms', 'runs'],
        cs.rows.map((c) => [
          c.fn,
          c.variant,
          n(c.bytes / 1024),
          n(c.gzipBytes / 1024),
          c.importMs,
          c.clientsMs,
          c.processMs,
          c.runs,
        ]),
      ),
      '',
      ...(cs.notes.length ? [`Notes: ${cs.notes.join('; ')}.`, ''] : []),
      `![cold start](${chartDir}cold-start.svg)`,
      '',
    );
  }
  if (pr) {
    const p = pr.prices;
    out.push(
      '## 6. Cost per million groups (AWS, us-east-1)',
      '',
      `Prices (${p.asOf}; source: ${p.source}):`,
      '',
      table(
        ['item', 'price'],
        [
          ['Lambda requests', '$0.20 per million'],
          ['Lambda duration, arm64', '$0.0000133334 per GB-s'],
          ['DynamoDB on-demand writes', '$0.625 per million WRU'],
          ['DynamoDB on-demand reads', '$0.125 per million RRU'],
          ['Step Functions Standard', '$0.025 per 1,000 state transitions'],
          ['Step Functions Express', '$1.00 per million requests + $0.00001667 per GB-s (64 MB minimum)'],
        ],
      ),
      '',
      `Assumptions: ${pr.assumptions.join('; ')}.`,
      '',
      'Step Functions models: **Standard** — a bridge Lambda consumes the topic and calls StartExecution per Create and SendTaskSuccess per report; ' +
        'the state machine is a Map over the members whose iteration is one Task `aws-sdk:dynamodb:putItem.waitForTaskToken` storing the task token, ' +
        "then a Task invoking a Lambda that produces the outcome, then the end: **n + 3 transitions**; timeouts by the Map's TimeoutSeconds. " +
        '**Express** has no callback pattern (`.waitForTaskToken` is Standard only) and runs at most 5 minutes, so it polls: reports stored as items, one execution per group looping Wait 1 s → read the count, billed for the time the group is open.',
      '',
    );
    for (const m of pr.models) {
      out.push(
        `**${m.design}, groups of ${m.groupSize}: $${n(m.total, 2)} per million groups**`,
        '',
        table(
          ['item', 'USD per 1M groups'],
          m.lines.map((l) => [l.item, n(l.usdPerMillionGroups, 2)]),
        ),
        '',
        ...(m.notes.length ? [`Note: ${m.notes.join('; ')}.`, ''] : []),
      );
    }
    out.push(
      `Fixed, not per group: ${pr.fixedMonthly.map((f) => `${f.item} ≈ $${f.usd}/month`).join('; ')}.`,
      '',
      `![cost](${chartDir}cost.svg)`,
      '',
    );
  }
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}
