/**
 * What outcome signatures cost (`npm run bench:signing`, a few seconds, no services): the CPU time of
 * one Ed25519 signature over an outcome's envelope and of one verification, for outcomes of groups of
 * 3, 100 and 1,000 members (100 B results), and what that and the key's Secrets Manager reads cost
 * per million groups on AWS. Writes its own section of bench/RESULTS.md (kept by `npm run bench`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  generateSigningJwk,
  parseOutcomeKeys,
  parseSigningKeySet,
  signOutcome,
  verifyOutcome,
} from '#core/signing.ts';
import { FUNCTIONS } from '#shared/aws.ts';
import { round } from './lib.ts';
import { PRICES } from './pricing.ts';
import { withSection } from './scale-trace.ts';

/** Secrets Manager, us-east-1 (aws.amazon.com/secrets-manager/pricing): per secret-month and per API call. */
const SECRETS_MANAGER = { perSecretMonth: 0.4, perCall: 0.05 / 10_000 };
/** The functions keep the key set this long (functions/shared/runtime.ts): one read per environment per period. */
const CACHE_MINUTES = 5;

const set = parseSigningKeySet({ keys: [generateSigningJwk('bench', 0)] });
const keys = parseOutcomeKeys(set.keys.map((k) => k.publicKey));

function outcomeOf(members: number): Buffer {
  const results = Object.fromEntries(
    Array.from({ length: members }, (_, i) => [`member-${i}`, { data: 'x'.repeat(80) }]),
  );
  return Buffer.from(
    JSON.stringify({
      type: 'EventGroupCollectorSuccess',
      id: '85023199-F15A-4D2C-8C7B-28A266F71EEB',
      created: '2026-12-07T18:51:27.308Z',
      resolved: '2026-12-07T18:51:28.049Z',
      results,
    }),
  );
}

/** Median ns per call over `rounds` rounds of `perRound` calls. */
function timed(perRound: number, rounds: number, op: () => void): number {
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) op();
    samples.push(Number(process.hrtime.bigint() - start) / perRound);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? 0;
}

const startedAt = Date.now();
const rows: string[] = [];
const figures: { members: number; bytes: number; signNs: number; verifyNs: number; usdPerMillion: number }[] =
  [];
for (const members of [3, 100, 1000]) {
  const value = outcomeOf(members);
  const message = {
    topic: 'eventbus-collector',
    key: '85023199-F15A-4D2C-8C7B-28A266F71EEB',
    value,
    resolvedMs: 0,
  };
  const headers = signOutcome(set, message);
  const perRound = members >= 1000 ? 50 : 500;
  timed(perRound, 3, () => signOutcome(set, message)); // warm-up
  const signNs = timed(perRound, 15, () => signOutcome(set, message));
  const verifyNs = timed(perRound, 15, () => verifyOutcome(keys, { ...message, headers }));
  // Billed at the collector's memory (the sweeper's and the timeouts function's are smaller), arm64.
  const usdPerMillion =
    (signNs / 1e9) * (FUNCTIONS.collector.memoryMb / 1024) * PRICES.lambdaArmPerGbSecond * 1e6;
  figures.push({ members, bytes: value.length, signNs, verifyNs, usdPerMillion });
  rows.push(
    `| ${members} | ${value.length.toLocaleString('en-US')} B | ${round(signNs / 1000, 1)} µs | ${round(verifyNs / 1000, 1)} µs | $${usdPerMillion.toFixed(4)} | ${round((verifyNs / 1e9) * 1e6, 2)} s |`,
  );
}
const readsPerEnvironmentMonth = (30 * 24 * 60) / CACHE_MINUTES;
const perEnvironmentMonth = readsPerEnvironmentMonth * SECRETS_MANAGER.perCall;
const uncachedPerMillion = 1e6 * SECRETS_MANAGER.perCall;
const table = [
  '| members | outcome | sign (one outcome) | verify (one outcome) | signing CPU per million groups (collector, 512 MB arm64) | verifying CPU per million outcomes (client) |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows,
];
const lines = [
  `<!-- signing:begin (written by \`npm run bench:signing\`; kept by \`npm run bench\`) -->`,
  '## Outcome signatures',
  '',
  `Run ${new Date(startedAt).toISOString()}: \`npm run bench:signing\` (${round((Date.now() - startedAt) / 1000, 1)} s, this machine's CPU, median of 15 rounds). One Ed25519 signature (node:crypto) over the outcome's envelope (purpose, topic, key, value), as the functions make it once per outcome published, and one verification, as the client makes it per outcome read. Outcomes of 100 B results.`,
  '',
  ...table,
  '',
  `Secrets Manager (us-east-1: $${SECRETS_MANAGER.perSecretMonth} per secret a month, $0.05 per 10,000 calls): $${SECRETS_MANAGER.perSecretMonth} a month for the key, and at most one read per execution environment per ${CACHE_MINUTES} minutes while it publishes: ${readsPerEnvironmentMonth.toLocaleString('en-US')} reads, $${round(perEnvironmentMonth, 3)}, a month for an environment that never idles, whatever the number of groups. Read on every outcome instead (no cache), the reads alone would cost $${round(uncachedPerMillion, 2)} per million groups.`,
  '<!-- signing:end -->',
];
for (const line of lines) console.log(line);
const mdPath = join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md');
writeFileSync(mdPath, withSection(readFileSync(mdPath, 'utf8'), 'signing', lines.join('\n')));
console.log(JSON.stringify(figures));
