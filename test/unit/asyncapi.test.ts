import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { decodeEvent } from '#core/events.ts';
import { buildOutcome } from '#core/outcome.ts';
import { decideGroup, type GroupEvent } from '#core/rules.ts';
import { asyncApiDocument, asyncApiPath } from '#local/asyncapi.ts';
import pkg from '../../package.json' with { type: 'json' };

const doc = JSON.parse(readFileSync(asyncApiPath, 'utf8'));
const samples = join(import.meta.dirname, '..', '..', 'events', 'samples');
const sample = (name: string) => JSON.parse(readFileSync(join(samples, `${name}.json`), 'utf8'));
const validator = (message: string) =>
  new Ajv({ strict: false }).compile(doc.components.messages[message].payload as object);

describe('the AsyncAPI document (docs/asyncapi.json)', () => {
  it('is current: regenerated from the validators it is identical', () => {
    expect(doc).toEqual(JSON.parse(JSON.stringify(asyncApiDocument(pkg.version))));
  });

  it('accepts the sample events and the outcomes the collector builds', () => {
    // Prepare
    const create = validator('EventGroupCollectorCreate');
    const done = validator('EventGroupCollectorEntityDone');
    const success = validator('EventGroupCollectorSuccess');
    const failure = validator('EventGroupCollectorFailure');
    const base = { groupId: 'g', createdMs: 0, resolvedMs: 1250, payload: '{"group":"payload"}' };

    // Act
    const outcomes = {
      success: JSON.parse(buildOutcome({ ...base, kind: 'success', results: [['a', '{"x":1}']] })),
      memberFailure: JSON.parse(
        buildOutcome({ ...base, kind: 'member-failure', results: [['a', 'null']], entity: 'a', error: 'e' }),
      ),
      timeout: JSON.parse(
        buildOutcome({ ...base, kind: 'timeout', results: [], missing: ['a'], ttlSeconds: 3 }),
      ),
    };

    // Assess
    expect(create(sample('create')), JSON.stringify(create.errors)).toBe(true);
    for (const name of ['done-a', 'done-b', 'done-c', 'error-c']) expect(done(sample(name))).toBe(true);
    expect(success(outcomes.success), JSON.stringify(success.errors)).toBe(true);
    expect(failure(outcomes.memberFailure), JSON.stringify(failure.errors)).toBe(true);
    expect(failure(outcomes.timeout), JSON.stringify(failure.errors)).toBe(true);
  });

  it('accepts issue 20\u2019s samples (tolerate, quorum, Cancel, Extend) and every outcome decideGroup builds from them', () => {
    // Prepare
    const create = validator('EventGroupCollectorCreate');
    const cancel = validator('EventGroupCollectorCancel');
    const extend = validator('EventGroupCollectorExtend');
    const success = validator('EventGroupCollectorSuccess');
    const failure = validator('EventGroupCollectorFailure');
    const definitionOf = (name: string) => {
      const decoded = decodeEvent(Buffer.from(JSON.stringify(sample(name))), { maxTtlSeconds: 604_800 });
      if (decoded.kind !== 'create') throw new Error(`${name} is not a Create`);
      return decoded.definition;
    };
    const report = (name: string, atMs: number): GroupEvent => {
      const { id, result, error } = sample(name);
      return { kind: 'report', report: { member: id, result: JSON.stringify(result ?? null), error, atMs } };
    };
    const decide = (name: string, events: GroupEvent[], nowMs = 10) => {
      const verdict = decideGroup(
        { definition: definitionOf(name), createdMs: 0, maxTtlSeconds: 604_800, events },
        nowMs,
      );
      if (verdict.status !== 'decided') throw new Error('still open');
      return JSON.parse(buildOutcome(verdict.outcome));
    };

    // Act
    const outcomes = {
      tolerated: decide('create-tolerate', [report('done-a', 1), report('error-c', 2), report('done-b', 3)]),
      quorum: decide('create-quorum', [report('done-b', 1), report('done-a', 2)]),
      tooManyErrors: decide('create-tolerate', [
        report('error-c', 1),
        {
          kind: 'report',
          report: { member: sample('done-a').id, result: 'null', error: 'disk full', atMs: 2 },
        },
      ]),
      cancelled: decide('create', [
        report('done-a', 1),
        { kind: 'cancel', atMs: 2, message: sample('cancel').message },
      ]),
      timeout: decide('create-quorum', [report('error-c', 1)], 120_000),
    };

    // Assess
    for (const name of ['create-tolerate', 'create-quorum'])
      expect(create(sample(name)), JSON.stringify(create.errors)).toBe(true);
    expect(cancel(sample('cancel')), JSON.stringify(cancel.errors)).toBe(true);
    expect(extend(sample('extend')), JSON.stringify(extend.errors)).toBe(true);
    expect(outcomes.tolerated).toHaveProperty('errors');
    expect(outcomes.quorum).toHaveProperty('missing');
    expect(outcomes.cancelled).toMatchObject({
      reason: 'cancelled',
      error: 'Cancelled: Upload withdrawn by the user',
    });
    for (const outcome of [outcomes.tolerated, outcomes.quorum])
      expect(success(outcome), JSON.stringify(success.errors)).toBe(true);
    for (const outcome of [outcomes.tooManyErrors, outcomes.cancelled, outcomes.timeout])
      expect(failure(outcome), JSON.stringify(failure.errors)).toBe(true);
  });

  it('rejects events the collector dead-letters', () => {
    const create = validator('EventGroupCollectorCreate');
    const done = validator('EventGroupCollectorEntityDone');
    expect(create({ ...sample('create'), expected: 'not an array' })).toBe(false);
    expect(create({ ...sample('create'), ttl: 1.5 })).toBe(false);
    expect(done({ ...sample('done-a'), group: undefined })).toBe(false);
    expect(done({ ...sample('error-c'), error: '' })).toBe(false);
    const cancel = validator('EventGroupCollectorCancel');
    const extend = validator('EventGroupCollectorExtend');
    expect(create({ ...sample('create'), tolerate: -1 })).toBe(false);
    expect(create({ ...sample('create'), quorum: 0 })).toBe(false);
    expect(cancel({ ...sample('cancel'), group: undefined })).toBe(false);
    expect(extend({ ...sample('extend'), ttl: 2.5 })).toBe(false);
    const failure = validator('EventGroupCollectorFailure');
    expect(
      failure({
        ...JSON.parse(
          buildOutcome({
            kind: 'timeout',
            groupId: 'g',
            createdMs: 0,
            resolvedMs: 1,
            results: [],
            payload: undefined,
          }),
        ),
        reason: 'other',
      }),
    ).toBe(false);
  });
});
