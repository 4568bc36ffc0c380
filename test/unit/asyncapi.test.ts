import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { buildOutcome } from '#core/outcome.ts';
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

  it('rejects events the collector dead-letters', () => {
    const create = validator('EventGroupCollectorCreate');
    const done = validator('EventGroupCollectorEntityDone');
    expect(create({ ...sample('create'), expected: 'not an array' })).toBe(false);
    expect(create({ ...sample('create'), ttl: 1.5 })).toBe(false);
    expect(done({ ...sample('done-a'), group: undefined })).toBe(false);
    expect(done({ ...sample('error-c'), error: '' })).toBe(false);
  });
});
