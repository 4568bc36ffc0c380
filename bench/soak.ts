/**
 * Soak: `npm run soak -- --groups N [--seed S] [--timeout-minutes M] [--max-size K] [--large-share F]`.
 * Groups of random size (1..K members, a share F above 64), 10% duplicated reports, 10% reports
 * before their Create, 5% member failures, 5% timeouts (a member never reports),
 * produced to Kafka and consumed by the whole collector under the local event source
 * mappings (Kafka mapping + stream mapping + sweeper); then every group and every
 * input record is accounted for. Uses KAFKA_BROKERS / DYNAMODB_ENDPOINT when set,
 * otherwise starts a broker and DynamoDB Local. Exits 1 on any problem or lost record.
 * Writes the report (without per-record lists) to bench/results/soak-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startServices } from '#local/services/index.ts';
import type { ServiceAddresses } from '../test/fixtures/harness.ts';
import { type RunReport, runScenario, summary } from '../test/fixtures/run.ts';

export interface SoakOptions {
  services: ServiceAddresses;
  groups: number;
  seed?: number;
  timeoutMs?: number;
  /** Ordinary groups have 1..maxSize members (default 8); largeShare of groups have 65..134 (default 0.01). */
  maxSize?: number;
  largeShare?: number;
  log?: (line: string) => void;
}

export function soak(options: SoakOptions): Promise<RunReport> {
  return runScenario({
    services: options.services,
    workload: {
      groups: options.groups,
      seed: options.seed ?? 1,
      duplicated: 0.1,
      outOfOrder: 0.1,
      failures: 0.05,
      timeouts: 0.05,
      timeoutTtl: 4,
      maxSize: options.maxSize,
      largeShare: options.largeShare,
    },
    partitions: 6,
    // The whole workload is produced up front, so partitions drift apart by up to the run's length: a
    // report can be applied long before its group's Create on another partition. The wait for early
    // reports (600 s by default) must cover that drift, or such reports are dead-lettered as
    // group-never-created, as the contract says (a 10,000-group run here lost 369 groups' reports that way).
    settings: { earlyReportWaitSeconds: Math.max(600, Math.ceil((options.timeoutMs ?? 120_000) / 1000)) },
    timeoutMs: options.timeoutMs,
    log: options.log,
  });
}

/** Problems of a run, empty when every group and record is accounted for. */
export function soakProblems(r: RunReport): string[] {
  const problems = [...r.outcomes.problems];
  if (r.records.lost.length > 0)
    problems.push(`${r.records.lost.length} records lost: ${r.records.lost.slice(0, 10).join(', ')}`);
  if (r.records.dead > 0) problems.push(`${r.records.dead} records dead-lettered in a valid workload`);
  if (r.deadLetters > 0)
    problems.push(
      `${r.deadLetters} messages on the dead-letter topic: ${r.deadLetterDetails.slice(0, 5).join(' | ')}`,
    );
  if (r.esmFailures > 0 || r.kafka.recordsDiscarded > 0)
    problems.push(`${r.kafka.recordsDiscarded} records discarded by the mapping`);
  if (r.uncommitted.length > 0) problems.push(`uncommitted: ${r.uncommitted.join('; ')}`);
  return problems;
}

async function main() {
  const { values } = parseArgs({
    options: {
      groups: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '1' },
      'timeout-minutes': { type: 'string', default: '30' },
      'max-size': { type: 'string', default: '8' },
      'large-share': { type: 'string', default: '0.01' },
    },
  });
  const groups = Number(values.groups);
  const log = (line: string) => console.log(`[soak ${new Date().toISOString()}] ${line}`);
  const services = await startServices({ log });
  try {
    const report = await soak({
      services,
      groups,
      seed: Number(values.seed),
      timeoutMs: Number(values['timeout-minutes']) * 60_000,
      maxSize: Number(values['max-size']),
      largeShare: Number(values['large-share']),
      log,
    });
    log(summary('soak', report));
    const rate = (report.workload.records / report.durationMs) * 1000;
    log(
      `workload ${JSON.stringify(report.workload)}; ${rate.toFixed(1)} records/s, ${((report.outcomes.groups / report.durationMs) * 1000).toFixed(1)} groups/s; exact partial outcomes ${report.outcomes.exactPartial}; by detail ${JSON.stringify(report.records.byDetail)}`,
    );
    const problems = soakProblems(report);
    for (const p of problems.slice(0, 50)) log(`PROBLEM ${p}`);
    const dir = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = `${dir}soak-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.json`;
    const { lost, ...records } = report.records;
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          command: `npm run soak -- ${Object.entries(values)
            .map(([name, value]) => `--${name} ${value}`)
            .join(' ')}`,
          node: process.version,
          ...report,
          outcomes: { ...report.outcomes, problems: report.outcomes.problems.slice(0, 50) },
          records: { ...records, lost: lost.length, lostSample: lost.slice(0, 50) },
          recordsPerSecond: Number(rate.toFixed(1)),
          problems: problems.slice(0, 50),
        },
        null,
        2,
      )}\n`,
    );
    log(`report written to ${file}`);
    process.exitCode = problems.length === 0 ? 0 : 1;
  } finally {
    await services.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
