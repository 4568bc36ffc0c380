/**
 * Issue 20's decision rules (`decideGroup`) against a small reference model that takes the order
 * of a group's events as input. The model is written the other way round: instead of one pass that
 * keeps counts, it looks at every prefix of the events from scratch and takes the first prefix at
 * which a condition of the contract holds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEvent, type GroupDefinition } from '#core/events.ts';
import type { StoredReport } from '#core/model.ts';
import { buildOutcome, cancelledMessage, type GroupOutcomeKind, type OutcomeInput } from '#core/outcome.ts';
import {
  decideGroup,
  type GroupEvent,
  type GroupVerdict,
  isPlain,
  outcomeInput,
  recordingOrder,
} from '#core/rules.ts';

const MAX_TTL = 600;
const CREATED = 1_000_000;
const MEMBERS = ['a', 'b', 'c', 'd'];

/** What an outcome says, independent of its encoding. */
interface Meaning {
  kind: GroupOutcomeKind;
  entity?: string | undefined;
  error?: string | undefined;
  /** member → result JSON, or null for a failed member. */
  results: Record<string, string>;
  errors: Record<string, string>;
  missing: string[] | undefined;
  deadlineMs: number;
}

// ---------------------------------------------------------------------------------------------
// The reference model

const atOf = (e: GroupEvent) => (e.kind === 'report' ? e.report.atMs : e.atMs);

/** The deadline after the events of `prefix`, recomputed from the start. */
function deadlineAfter(definition: GroupDefinition, prefix: GroupEvent[]): number {
  let deadline = CREATED + definition.ttlSeconds * 1000;
  for (const e of prefix) {
    if (e.kind === 'extend' && e.atMs < deadline) {
      deadline = Math.max(deadline, Math.min(e.atMs + e.ttlSeconds * 1000, CREATED + MAX_TTL * 1000));
    }
  }
  return deadline;
}

/** The first report of each expected member in `prefix`. */
function firstReports(definition: GroupDefinition, prefix: GroupEvent[]): StoredReport[] {
  const reports = prefix.flatMap((e) => (e.kind === 'report' ? [e.report] : []));
  return reports.filter(
    (r, i) => definition.expected.includes(r.member) && reports.findIndex((o) => o.member === r.member) === i,
  );
}

function meaningOf(
  kind: GroupOutcomeKind,
  definition: GroupDefinition,
  prefix: GroupEvent[],
  deadlineMs: number,
  extra: { entity?: string; error?: string } = {},
): Meaning {
  const reports = firstReports(definition, prefix);
  const results: Record<string, string> = {};
  const errors: Record<string, string> = {};
  for (const r of reports) {
    if (r.error === undefined) results[r.member] = r.result;
    else {
      if (kind !== 'success') results[r.member] = 'null';
      if (!isPlain(definition)) errors[r.member] = r.error;
    }
  }
  const reported = reports.map((r) => r.member);
  const listsMissing =
    kind === 'timeout' || kind === 'cancelled' || (kind === 'success' && definition.quorum !== undefined);
  return {
    kind,
    ...extra,
    results,
    errors,
    missing: listsMissing ? definition.expected.filter((m) => !reported.includes(m)) : undefined,
    deadlineMs,
  };
}

function reference(definition: GroupDefinition, events: GroupEvent[], nowMs: number): Meaning | 'open' {
  const n = definition.expected.length;
  const tolerate = definition.tolerate ?? 0;
  for (let k = 1; k <= events.length; k++) {
    const before = events.slice(0, k - 1);
    const prefix = events.slice(0, k);
    const event = prefix[k - 1] as GroupEvent;
    const deadline = deadlineAfter(definition, before);
    if (atOf(event) >= deadline) return meaningOf('timeout', definition, before, deadline);
    if (event.kind === 'cancel') {
      return meaningOf('cancelled', definition, before, deadline, { error: cancelledMessage(event.message) });
    }
    const reports = firstReports(definition, prefix);
    const failed = reports.filter((r) => r.error !== undefined);
    const succeeded = reports.filter((r) => r.error === undefined);
    if (failed.length > tolerate && event.kind === 'report') {
      return meaningOf('member-failure', definition, prefix, deadline, {
        entity: event.report.member,
        error: event.report.error,
      });
    }
    const quorumReached = definition.quorum !== undefined && succeeded.length >= definition.quorum;
    if (quorumReached || reports.length === n) return meaningOf('success', definition, prefix, deadline);
  }
  const deadline = deadlineAfter(definition, events);
  return nowMs >= deadline ? meaningOf('timeout', definition, events, deadline) : 'open';
}

// ---------------------------------------------------------------------------------------------
// The implementation's answer, in the same terms

function meaning(verdict: GroupVerdict): Meaning | 'open' {
  if (verdict.status === 'open') return 'open';
  const o: OutcomeInput<GroupOutcomeKind> = verdict.outcome;
  return {
    kind: o.kind,
    ...(o.kind === 'member-failure' ? { entity: o.entity, error: o.error } : {}),
    ...(o.kind === 'cancelled' ? { error: o.error } : {}),
    results: Object.fromEntries(o.results),
    errors: Object.fromEntries(o.errors ?? []),
    missing: o.missing,
    deadlineMs: verdict.deadlineMs,
  };
}

// ---------------------------------------------------------------------------------------------
// Generators

/** A definition as the decoder gives it: n members, ttl 10..60 s, tolerate and quorum in range (or absent). */
const definition: fc.Arbitrary<GroupDefinition> = fc
  .integer({ min: 1, max: MEMBERS.length })
  .chain((n) =>
    fc.record(
      {
        n: fc.constant(n),
        ttl: fc.integer({ min: 10, max: 60 }),
        quorum: fc.option(fc.integer({ min: 1, max: n }), { nil: undefined }),
        tolerate: fc.option(fc.integer({ min: 0, max: n }), { nil: undefined }),
        payload: fc.option(fc.jsonValue({ maxDepth: 1 }), { nil: undefined }),
      },
      { requiredKeys: ['n', 'ttl', 'quorum', 'tolerate'] },
    ),
  )
  .map(({ n, ttl, quorum, tolerate, payload }) => {
    const bounded =
      quorum !== undefined && tolerate !== undefined ? Math.min(tolerate, n - quorum) : tolerate;
    const create = {
      id: 'g',
      type: 'EventGroupCollectorCreate',
      expected: MEMBERS.slice(0, n),
      ttl,
      ...(quorum === undefined ? {} : { quorum }),
      ...(bounded === undefined ? {} : { tolerate: bounded }),
      ...(payload === undefined ? {} : { payload }),
    };
    const decoded = decodeEvent(Buffer.from(JSON.stringify(create)), { maxTtlSeconds: MAX_TTL });
    if (decoded.kind !== 'create') throw new Error('the generator made a bad Create');
    return decoded.definition;
  });

type StepEvent =
  | { kind: 'report'; member: string; error: string | undefined; result: string }
  | { kind: 'cancel'; message: string | undefined }
  | { kind: 'extend'; ttlSeconds: number };
interface History {
  start: number;
  steps: { gap: number; event: StepEvent }[];
  nowAfter: number;
}

/** One event, stored `gap` ms after the previous one. */
const step: fc.Arbitrary<{ gap: number; event: StepEvent }> = fc.record({
  gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 20_000 })),
  event: fc.oneof(
    {
      weight: 10,
      arbitrary: fc.record({
        kind: fc.constant('report' as const),
        member: fc.oneof(
          { weight: 8, arbitrary: fc.constantFrom(...MEMBERS) },
          { weight: 1, arbitrary: fc.constant('x') },
        ),
        error: fc.oneof(
          { weight: 3, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.constantFrom('boom', 'disk full') },
        ),
        result: fc.constantFrom('1', '{"ok":true}', 'null'),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('cancel' as const),
        message: fc.option(fc.constantFrom('stop', 'user left'), { nil: undefined }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('extend' as const),
        ttlSeconds: fc.integer({ min: 1, max: 900 }),
      }),
    },
  ),
});

/** Events in recording order, stored times never decreasing, starting up to 5 s before the Create (early events). */
const history: fc.Arbitrary<History> = fc.record({
  start: fc.integer({ min: -5_000, max: 1_000 }),
  steps: fc.array(step, { maxLength: 10 }),
  nowAfter: fc.integer({ min: 0, max: 200_000 }),
});

function eventsOf(h: Pick<History, 'start' | 'steps'>): GroupEvent[] {
  let at = CREATED + h.start;
  return h.steps.map(({ gap, event: e }) => {
    at += gap;
    if (e.kind === 'report')
      return {
        kind: 'report',
        report: { member: e.member, result: e.error ? 'null' : e.result, error: e.error, atMs: at },
      };
    if (e.kind === 'cancel') return { kind: 'cancel', atMs: at, message: e.message };
    return { kind: 'extend', atMs: at, ttlSeconds: e.ttlSeconds };
  });
}

const lastAt = (events: GroupEvent[]) =>
  events.length === 0 ? CREATED : atOf(events[events.length - 1] as GroupEvent);
const decide = (def: GroupDefinition, events: GroupEvent[], nowMs: number) =>
  decideGroup({ definition: def, createdMs: CREATED, maxTtlSeconds: MAX_TTL, events }, nowMs);

describe('decideGroup against the reference model', () => {
  it('gives the model\u2019s outcome (or "open") for any definition, order of events and now', () => {
    fc.assert(
      fc.property(definition, history, (def, h) => {
        // Prepare
        const events = eventsOf(h);
        const nowMs = Math.max(lastAt(events), CREATED) + h.nowAfter;

        // Act
        const verdict = decide(def, events, nowMs);

        // Assess
        expect(meaning(verdict)).toEqual(reference(def, events, nowMs));
      }),
      { numRuns: 3_000 },
    );
  });

  it('the same reports in another order may decide differently, but each order has exactly one outcome that later events never change', () => {
    fc.assert(
      fc.property(definition, history, history, (def, h, more) => {
        // Prepare: a decision an event proved, then more events after it
        const events = eventsOf(h);
        const nowMs = Math.max(lastAt(events), CREATED) + h.nowAfter;
        const verdict = decide(def, events, nowMs);
        fc.pre(
          verdict.status === 'decided' &&
            verdict.lateFrom <= events.length &&
            (verdict.decidedBy !== 'deadline' || verdict.lateFrom < events.length),
        );
        const later = eventsOf({ ...more, start: lastAt(events) - CREATED });

        // Act
        const extended = decide(def, [...events, ...later], nowMs + 1_000_000);

        // Assess
        expect(meaning(extended)).toEqual(meaning(verdict));
      }),
      { numRuns: 1_000 },
    );
  });

  it('redelivery is harmless: an event recorded twice in a row changes nothing', () => {
    fc.assert(
      fc.property(definition, history, fc.nat(), (def, h, pick) => {
        // Prepare
        const events = eventsOf(h);
        fc.pre(events.length > 0);
        const i = pick % events.length;
        const twice = [...events.slice(0, i + 1), events[i] as GroupEvent, ...events.slice(i + 1)];
        const nowMs = Math.max(lastAt(events), CREATED) + h.nowAfter;

        // Act
        const once = decide(def, events, nowMs);
        const again = decide(def, twice, nowMs);

        // Assess
        expect(meaning(again)).toEqual(meaning(once));
      }),
      { numRuns: 1_000 },
    );
  });

  it('a deadline only grows, and never beyond the maximum ttl from the creation', () => {
    fc.assert(
      fc.property(definition, history, (def, h) => {
        // Prepare
        const events = eventsOf(h);
        const initial = CREATED + def.ttlSeconds * 1000;

        // Act
        const deadlines = events.map((_, k) => decide(def, events.slice(0, k + 1), CREATED).deadlineMs);

        // Assess
        let previous = initial;
        for (const d of deadlines) {
          expect(d).toBeGreaterThanOrEqual(previous);
          expect(d).toBeLessThanOrEqual(Math.max(initial, CREATED + MAX_TTL * 1000));
          previous = d;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('decideGroup keeps Promise.all as it was (no tolerate, no quorum)', () => {
  const plain = definition.filter(isPlain);
  const reportsOnly = history.map((h) => ({
    ...h,
    steps: h.steps.filter((s) => s.event.kind === 'report'),
  }));

  it('its outcome is outcomeInput\u2019s for the reports recorded up to the decision, byte for byte', () => {
    fc.assert(
      fc.property(plain, reportsOnly, (def, h) => {
        // Prepare
        const events = eventsOf(h);
        const nowMs = Math.max(lastAt(events), CREATED) + h.nowAfter;
        const verdict = decide(def, events, nowMs);
        fc.pre(verdict.status === 'decided');
        // As stored: the first report of a member wins
        const recorded = events
          .slice(0, verdict.lateFrom)
          .flatMap((e) => (e.kind === 'report' ? [e.report] : []))
          .filter((r, i, all) => all.findIndex((o) => o.member === r.member) === i);
        const { kind, entity, error } = verdict.outcome;

        // Act
        const legacy = outcomeInput({
          kind: kind === 'cancelled' ? 'timeout' : kind,
          definition: def,
          createdMs: CREATED,
          deadlineMs: verdict.deadlineMs,
          nowMs,
          members: recorded,
          ...(kind === 'member-failure' ? { entity: entity ?? '', error: error ?? '' } : {}),
        });

        // Assess
        const text = buildOutcome(verdict.outcome);
        expect(text).toBe(buildOutcome(legacy));
        if (kind === 'success') expect(text).not.toContain('"reason"');
        else expect(text).toContain(kind === 'timeout' ? '"reason":"timeout"' : '"reason":"member-error"');
      }),
      { numRuns: 2_000 },
    );
  });

  it('at the deadline, over the stored reports in recording order, it decides what outcomeInput decides', () => {
    fc.assert(
      fc.property(
        plain,
        fc.array(
          fc.record({
            member: fc.constantFrom(...MEMBERS),
            at: fc.integer({ min: -100, max: 100 }),
            failed: fc.boolean(),
          }),
          { maxLength: 6 },
        ),
        (def, stored) => {
          // Prepare: first report of each member wins, stored times around the deadline, in any order
          const deadlineMs = CREATED + def.ttlSeconds * 1000;
          const members = stored
            .filter((s, i) => stored.findIndex((o) => o.member === s.member) === i)
            .map(
              (s): StoredReport => ({
                member: s.member,
                result: s.failed ? 'null' : `"${s.member}"`,
                error: s.failed ? 'e' : undefined,
                atMs: deadlineMs + s.at,
              }),
            );
          const nowMs = deadlineMs + 500;

          // Act
          const legacy = outcomeInput({
            kind: 'timeout',
            definition: def,
            createdMs: CREATED,
            deadlineMs,
            nowMs,
            members,
          });
          const verdict = decide(
            def,
            recordingOrder(
              def,
              members.map((report) => ({ kind: 'report', report })),
            ),
            nowMs,
          );

          // Assess
          if (verdict.status !== 'decided') return expect.fail('open after the deadline');
          const o = verdict.outcome;
          expect([o.kind, o.entity, o.error, o.missing]).toEqual([
            legacy.kind,
            legacy.entity,
            legacy.error,
            legacy.missing,
          ]);
          if (o.kind !== 'member-failure') expect(buildOutcome(o)).toBe(buildOutcome(legacy));
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('decideGroup: the named forms', () => {
  const reportsOf = (h: History) =>
    eventsOf({ ...h, steps: h.steps.filter((s) => s.event.kind === 'report') });
  /** Index of the first report that counts as a success (a member's first report, expected, without error). */
  const firstSuccess = (def: GroupDefinition, events: GroupEvent[]) => {
    const seen = new Set<string>();
    return events.findIndex((e) => {
      if (e.kind !== 'report' || !def.expected.includes(e.report.member) || seen.has(e.report.member))
        return false;
      seen.add(e.report.member);
      return e.report.error === undefined;
    });
  };

  it('tolerate n is Promise.allSettled: never a member failure; every member reported is a success listing every error', () => {
    fc.assert(
      fc.property(definition, history, (base, h) => {
        // Prepare
        const def = { ...base, tolerate: base.expected.length, quorum: undefined };
        const events = reportsOf(h);

        // Act
        const verdict = decide(def, events, CREATED);

        // Assess
        if (verdict.status === 'open') return;
        expect(verdict.outcome.kind).not.toBe('member-failure');
        if (verdict.outcome.kind === 'success') {
          const count = verdict.outcome.results.length + (verdict.outcome.errors?.length ?? 0);
          expect(count).toBe(def.expected.length);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('quorum 1 is Promise.any: the first success decides; it fails only when every member failed', () => {
    fc.assert(
      fc.property(definition, history, (base, h) => {
        // Prepare
        const n = base.expected.length;
        const def = { ...base, quorum: 1, ...(n > 1 ? { tolerate: n - 1 } : { tolerate: undefined }) };
        const events = reportsOf(h);

        // Act
        const verdict = decide(def, events, CREATED);

        // Assess
        const first = firstSuccess(def, events);
        if (verdict.status === 'open') {
          expect(first).toBe(-1);
          return;
        }
        if (verdict.outcome.kind === 'success') {
          expect(verdict.decidedBy).toBe(first);
          expect(verdict.outcome.results).toHaveLength(1);
        }
        if (verdict.outcome.kind === 'member-failure') expect(verdict.outcome.errors).toHaveLength(n);
      }),
      { numRuns: 500 },
    );
  });
});
