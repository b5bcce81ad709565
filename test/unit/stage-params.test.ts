/**
 * Stage `params` as a rerun trigger, and the verdict code every source of a
 * plan carries: a params change voids that stage and the later ones like a
 * version bump (code `params-changed`, the changed keys named), and params
 * JSON cannot keep are refused before anything is recorded.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, Pipeline, failed, planResume, type Stage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

function pipeline(params: { check?: unknown; write?: unknown } = {}, calls: string[] = []): Pipeline {
  const stages: Stage[] = [
    { id: 'split', process: (s: string) => (calls.push(`split ${s}`), s.split('')) },
    { id: 'check', ...(params.check !== undefined ? { params: params.check } : {}), process: (c: string) => (calls.push(`check ${c}`), c === 'x' ? failed('bad x') : c) },
    { id: 'write', ...(params.write !== undefined ? { params: params.write } : {}), process: (c: string) => (calls.push(`write ${c}`), c) },
  ];
  return new Pipeline(stages);
}

const srcs = (m: Record<string, string>) => Object.entries(m).map(([key, data]) => ({ key, data }));

describe('stage params', () => {
  it('a changed param voids that stage and the later ones: params-changed, with the keys named, and the run redoes exactly that', async () => {
    const dir = tempDir();
    await pipeline({ check: { threshold: 1, lang: 'en', keep: [1, 2] } }).run(srcs({ a: 'ab', b: 'c' }), { checkpoint: dir });
    const next = pipeline({ check: { keep: [1, 2], lang: 'de', threshold: 1, extra: null } });
    const plan = await planResume(dir, { pipeline: next });
    expect(plan.fingerprint).toMatchObject({ changed: true, code: 'params-changed', paramsChanged: ['extra', 'lang'] });
    expect(plan.fingerprint.change).toBe('stage "check" changed params: extra, lang');
    expect(plan.sources.map((s) => [s.sourceKey, s.verdict, s.code])).toEqual([
      ['a', 'invalidated', 'params-changed'],
      ['b', 'invalidated', 'params-changed'],
    ]);
    const calls: string[] = [];
    await pipeline({ check: { keep: [1, 2], lang: 'de', threshold: 1, extra: null } }, calls).run(srcs({ a: 'ab', b: 'c' }), { checkpoint: dir });
    // Every source goes back to work; check and write run again on every character.
    expect(calls.filter((c) => !c.startsWith('split')).sort()).toEqual(['check a', 'check b', 'check c', 'write a', 'write b', 'write c']);
    const after = await planResume(dir, { pipeline: next });
    expect(after.sources.map((s) => s.code)).toEqual(['complete', 'complete']);
  });

  it('key order and object identity do not matter: the same params in another order are no change', async () => {
    const dir = tempDir();
    await pipeline({ write: { b: { y: 2, x: 1 }, a: [3, { q: true, p: 'z' }] } }).run(srcs({ a: 'a' }), { checkpoint: dir });
    const plan = await planResume(dir, { pipeline: pipeline({ write: { a: [3, { p: 'z', q: true }], b: { x: 1, y: 2 } } }) });
    expect(plan.fingerprint).toMatchObject({ changed: false, code: null });
    expect(plan.sources[0]).toMatchObject({ verdict: 'skip', code: 'complete' });
  });

  it('a change of a later stage keeps the earlier stages work; params that are not an object are compared whole', async () => {
    const dir = tempDir();
    await pipeline({ write: 'v1' }).run(srcs({ a: 'ab' }), { checkpoint: dir });
    const plan = await planResume(dir, { pipeline: pipeline({ write: 'v2' }) });
    expect(plan.fingerprint).toMatchObject({ code: 'params-changed', paramsChanged: [], change: 'stage "write" changed params' });
    const calls: string[] = [];
    await pipeline({ write: 'v2' }, calls).run(srcs({ a: 'ab' }), { checkpoint: dir });
    expect(calls.filter((c) => c.startsWith('write')).sort()).toEqual(['write a', 'write b']);
  });

  it('is treated exactly like a version change of the same stage: the same plan per stage and the same stage calls', async () => {
    const versioned = (version: string | undefined, calls: string[] = []) =>
      new Pipeline([
        { id: 'split', process: (s: string) => (calls.push(`split ${s}`), s.split('')) },
        { id: 'check', ...(version ? { version } : {}), process: (c: string) => (calls.push(`check ${c}`), c === 'x' ? failed('bad x') : c) },
        { id: 'write', process: (c: string) => (calls.push(`write ${c}`), c) },
      ]);
    const input = srcs({ a: 'ab', b: 'cx', c: '' });
    const byParams = tempDir();
    const byVersion = tempDir();
    await pipeline({ check: { t: 1 } }).run(input, { checkpoint: byParams });
    await versioned(undefined).run(input, { checkpoint: byVersion });
    const p1 = await planResume(byParams, { pipeline: pipeline({ check: { t: 2 } }) });
    const p2 = await planResume(byVersion, { pipeline: versioned('2') });
    expect(p1.stages).toEqual(p2.stages);
    expect(p1.totals).toEqual(p2.totals);
    expect(p1.sources.map((s) => [s.sourceKey, s.verdict, s.rerun, s.pruned])).toEqual(p2.sources.map((s) => [s.sourceKey, s.verdict, s.rerun, s.pruned]));
    const c1: string[] = [];
    const c2: string[] = [];
    await pipeline({ check: { t: 2 } }, c1).run(input, { checkpoint: byParams });
    await versioned('2', c2).run(input, { checkpoint: byVersion });
    expect(c1.sort()).toEqual(c2.sort());
  });

  it('adding params to a stage that had none is a change; a version bump is stage-changed, not params-changed', async () => {
    const dir = tempDir();
    await pipeline().run(srcs({ a: 'a' }), { checkpoint: dir });
    const added = await planResume(dir, { pipeline: pipeline({ check: { t: 1 } }) });
    expect(added.fingerprint).toMatchObject({ code: 'params-changed', paramsChanged: ['t'] });
    const bumped = await planResume(dir, {
      pipeline: new Pipeline([
        { id: 'split', process: (s: string) => s.split('') },
        { id: 'check', version: '2', params: { t: 1 }, process: (c: string) => c },
        { id: 'write', process: (c: string) => c },
      ]),
    });
    expect(bumped.fingerprint).toMatchObject({ code: 'stage-changed' });
    expect(bumped.sources[0]).toMatchObject({ verdict: 'invalidated', code: 'stage-changed' });
  });

  const refused: [string, () => unknown, RegExp][] = [
    ['a cycle', () => { const o: Record<string, unknown> = { a: 1 }; o.self = o; return o; }, /params\.self is a reference back/],
    ['a function', () => ({ fn: () => 1 }), /params\.fn is a function/],
    ['a BigInt', () => ({ n: [1, 2n] }), /params\.n\[1\] is a BigInt/],
    ['undefined', () => ({ u: undefined }), /params\.u is undefined/],
    ['NaN', () => ({ x: Number.NaN }), /params\.x is NaN/],
    ['a Map', () => ({ m: new Map([[1, 2]]) }), /params\.m is a Map object/],
    ['a symbol', () => Symbol('s'), /params is a symbol/],
  ];
  for (const [what, make, message] of refused) {
    it(`params holding ${what} are refused with INVALID_PIPELINE naming the stage, before anything is recorded`, async () => {
      const dir = join(tempDir(), 'ckpt');
      let error: unknown;
      try {
        const p = pipeline({ check: make() });
        await p.run(srcs({ a: 'a' }), { checkpoint: dir });
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ code: ErrorCodes.INVALID_PIPELINE });
      expect((error as Error).message).toMatch(/stage "check"/);
      expect((error as Error).message).toMatch(message);
      expect(existsSync(dir)).toBe(false);
    });
  }

  it('a shared (non-cyclic) object referenced twice is fine', async () => {
    const shared = { k: 1 };
    const dir = tempDir();
    await pipeline({ check: { a: shared, b: shared, d: new Date('2026-01-01T00:00:00Z') } }).run(srcs({ a: 'a' }), { checkpoint: dir });
    const plan = await planResume(dir, { pipeline: pipeline({ check: { a: { k: 1 }, b: { k: 1 }, d: '2026-01-01T00:00:00.000Z' } }) });
    expect(plan.fingerprint.changed).toBe(false);
  });
});

describe('verdict codes', () => {
  it('every source carries a code: complete, new, incomplete, failed', async () => {
    const dir = tempDir();
    await pipeline().run(srcs({ done: 'ab', bad: 'ax' }), { checkpoint: dir });
    const plan = await planResume(dir, { sources: ['done', 'bad', 'fresh'] });
    expect(plan.sources.map((s) => [s.sourceKey, s.verdict, s.code])).toEqual([
      ['done', 'skip', 'complete'],
      ['bad', 'resume', 'failed'],
      ['fresh', 'new', 'new'],
    ]);
  });
});
