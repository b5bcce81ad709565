// Source fingerprints through the library: a source that comes back with
// another fingerprint is voided and rerun whole, the others untouched; one run
// without a fingerprint and given one later is no change; a fingerprint that
// is not a string is refused naming the source, with nothing recorded;
// fileFingerprint's two modes.
import { createHash } from 'node:crypto';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LineageError, LineageStore, Pipeline, fileFingerprint, planResume, type Source, type Stage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

/** split a word into letters → upper-case each → join them back per source (sorted: a group's order is not the input's); `calls` counts calls per stage. */
function letters(calls: Record<string, number>, written: Map<string, string>): Pipeline {
  const count = (id: string) => (calls[id] = (calls[id] ?? 0) + 1);
  const stages: Stage[] = [
    { id: 'split', process: (w: string) => (count('split'), w.split('')) },
    { id: 'upper', process: (c: string) => (count('upper'), c.toUpperCase()) },
    { id: 'join', groupBy: 'source', processBatch: (cs: string[], ctx) => (count('join'), written.set(String(ctx.sourceKey), cs.sort().join('')), cs.join('')) },
  ];
  return new Pipeline(stages);
}

const src = (key: string, data: string, fingerprint?: string): Source<string> => ({ key, data, ...(fingerprint === undefined ? {} : { fingerprint }) });

describe('source fingerprints', () => {
  it('a changed fingerprint voids that source alone and reruns it whole; the plan said so, with both fingerprints', async () => {
    const dir = tempDir();
    const calls: Record<string, number> = {};
    const written = new Map<string, string>();
    const p = letters(calls, written);
    await p.run([src('a', 'abc', 'v1'), src('b', 'xy', 'v1')], { checkpoint: dir });
    expect(calls).toEqual({ split: 2, upper: 5, join: 2 });

    const store = await LineageStore.open(dir, { readOnly: true });
    expect(store.sourceFingerprint('a')).toBe('v1');
    const plan = await planResume(store, { sources: [src('a', 'abcd', 'v2'), src('b', 'xy', 'v1')] });
    await store.close();
    const a = plan.sources.find((s) => s.sourceKey === 'a')!;
    expect(a).toMatchObject({ verdict: 'invalidated', code: 'input-changed', input: { recorded: 'v1', current: 'v2' } });
    expect(a.reason).toContain('v1 → v2');
    expect(plan.sources.find((s) => s.sourceKey === 'b')).toMatchObject({ verdict: 'skip', code: 'complete' });

    for (const k of Object.keys(calls)) delete calls[k];
    const report = await p.run([src('a', 'abcd', 'v2'), src('b', 'xy', 'v1')], { checkpoint: dir });
    expect(report.inputsChanged).toBe(1);
    expect(report.sources).toEqual({ read: 2, skipped: 1 });
    expect(calls).toEqual({ split: 1, upper: 4, join: 1 });
    expect(written.get('a')).toBe('ABCD');

    const after = await LineageStore.open(dir, { readOnly: true });
    expect(after.sourceFingerprint('a')).toBe('v2');
    expect(after.isSourceCompleted('a')).toBe(true);
    // The voided tasks are gone: only the new input's letters are under a.
    const letterTasks = [...after.tasks()].filter((t) => t.sourceKey === 'a' && t.stage === 'upper');
    expect(letterTasks).toHaveLength(4);
    await after.close();

    for (const k of Object.keys(calls)) delete calls[k];
    const again = await p.run([src('a', 'abcd', 'v2'), src('b', 'xy', 'v1')], { checkpoint: dir });
    expect(again).toMatchObject({ inputsChanged: 0, sources: { read: 2, skipped: 2 } });
    expect(calls).toEqual({});
  });

  it('a source run without a fingerprint and given one later is no change; the next edit is', async () => {
    const dir = tempDir();
    const calls: Record<string, number> = {};
    const p = letters(calls, new Map());
    await p.run([src('a', 'abc')], { checkpoint: dir });
    for (const k of Object.keys(calls)) delete calls[k];
    const store = await LineageStore.open(dir, { readOnly: true });
    expect(store.sourceFingerprint('a')).toBeUndefined();
    const plan = await planResume(store, { sources: [src('a', 'abc', 'v1')] });
    await store.close();
    expect(plan.sources[0]).toMatchObject({ verdict: 'skip', code: 'complete' });
    expect(await p.run([src('a', 'abc', 'v1')], { checkpoint: dir })).toMatchObject({ inputsChanged: 0, sources: { skipped: 1 } });
    expect(calls).toEqual({});
    // Running without the fingerprint again keeps the recorded one and changes nothing.
    expect(await p.run([src('a', 'abc')], { checkpoint: dir })).toMatchObject({ inputsChanged: 0, sources: { skipped: 1 } });
    expect(await p.run([src('a', 'abcd', 'v2')], { checkpoint: dir })).toMatchObject({ inputsChanged: 1 });
    expect(calls).toEqual({ split: 1, upper: 4, join: 1 });
  });

  it('a crashed source whose input then changed reruns whole, not from where it stopped', async () => {
    const dir = tempDir();
    const written = new Map<string, string>();
    const failing: Stage[] = [
      { id: 'split', process: (w: string) => w.split('') },
      { id: 'upper', process: (c: string) => { if (c === 'z') throw new Error('no z'); return c.toUpperCase(); } },
      { id: 'join', groupBy: 'source', processBatch: (cs: string[], ctx) => (written.set(String(ctx.sourceKey), cs.sort().join('')), cs.join('')) },
    ];
    const first = await new Pipeline(failing).run([src('a', 'abz', 'v1')], { checkpoint: dir });
    expect(first.failed).toBe(1);
    const second = await new Pipeline(failing).run([src('a', 'abc', 'v2')], { checkpoint: dir });
    expect(second).toMatchObject({ inputsChanged: 1, failed: 0 });
    expect(written.get('a')).toBe('ABC');
    const store = await LineageStore.open(dir, { readOnly: true });
    expect(store.isSourceCompleted('a')).toBe(true);
    expect([...store.tasks()].filter((t) => t.outcome?.kind === 'failed')).toEqual([]);
    await store.close();
  });

  for (const bad of [42, null, {}, '', 'x'.repeat(1025)] as unknown[]) {
    it(`a fingerprint ${JSON.stringify(bad)?.slice(0, 20)} is refused naming the source, and nothing of that source is recorded`, async () => {
      const dir = tempDir();
      const calls: Record<string, number> = {};
      const p = letters(calls, new Map());
      const err = await p.run([{ key: 'part-7', data: 'abc', fingerprint: bad } as Source], { checkpoint: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LineageError);
      expect((err as LineageError).code).toBe('LINEAGE_INVALID_ARGUMENT');
      expect((err as LineageError).message).toContain('"part-7"');
      expect(calls).toEqual({});
      const store = await LineageStore.open(dir, { readOnly: true });
      expect(store.sourceFingerprint('part-7')).toBeUndefined();
      expect([...store.tasks()]).toHaveLength(0);
      await store.close();
    });
  }

  it('with an open store, a changed input is a coded error naming the source; the others ran', async () => {
    const dir = tempDir();
    const calls: Record<string, number> = {};
    const p = letters(calls, new Map());
    await p.run([src('a', 'abc', 'v1')], { checkpoint: dir });
    const store = await LineageStore.open(dir);
    try {
      const err = await p.run([src('a', 'abcd', 'v2'), src('b', 'xy', 'v1')], { checkpoint: store }).catch((e: unknown) => e);
      expect((err as LineageError).code).toBe('LINEAGE_INVALID_ARGUMENT');
      expect((err as LineageError).message).toMatch(/source "a".*changed.*v1 → v2.*Pass the checkpoint path/);
      expect(store.sourceFingerprint('a')).toBe('v1');
      expect(store.sourceFingerprint('b')).toBe('v1');
    } finally {
      await store.close();
    }
  });

  it('in source-counter mode, a changed fingerprint reruns that source alone', async () => {
    const dir = tempDir();
    const calls: Record<string, number> = {};
    const p = letters(calls, new Map());
    await p.run([src('a', 'abc', 'v1'), src('b', 'xy', 'v1')], { checkpoint: dir, mode: 'sources' });
    for (const k of Object.keys(calls)) delete calls[k];
    const store = await LineageStore.open(dir, { readOnly: true });
    const plan = await planResume(store, { sources: [src('a', 'abc', 'v2'), src('b', 'xy', 'v1')] });
    await store.close();
    expect(plan.sources.map((s) => `${s.sourceKey}:${s.code}`)).toEqual(['a:input-changed', 'b:complete']);
    const report = await p.run([src('a', 'abc', 'v2'), src('b', 'xy', 'v1')], { checkpoint: dir, mode: 'sources' });
    expect(report).toMatchObject({ inputsChanged: 1, sources: { read: 2, skipped: 1 } });
    expect(calls).toEqual({ split: 1, upper: 3, join: 1 });
  });
});

describe('fileFingerprint', () => {
  it('stat changes with a touch; content changes only with an edit', async () => {
    const dir = tempDir();
    const f = join(dir, 'part.jsonl');
    writeFileSync(f, 'one\n');
    const stat1 = await fileFingerprint(f);
    const content1 = await fileFingerprint(f, { mode: 'content' });
    expect(stat1).toMatch(/^stat:4:\d+$/);
    expect(content1).toBe(`sha256:${createHash('sha256').update('one\n').digest('hex')}`);
    utimesSync(f, new Date(), new Date(Date.now() + 5000));
    expect(await fileFingerprint(f)).not.toBe(stat1);
    expect(await fileFingerprint(f, { mode: 'content' })).toBe(content1);
    writeFileSync(f, 'two\n');
    expect(await fileFingerprint(f, { mode: 'content' })).not.toBe(content1);
  });

  it('an unreadable path or a bad mode is a coded error naming the path', async () => {
    const dir = tempDir();
    await expect(fileFingerprint(join(dir, 'missing.jsonl'))).rejects.toMatchObject({ code: 'LINEAGE_IO', message: expect.stringContaining('missing.jsonl') });
    await expect(fileFingerprint(dir)).rejects.toMatchObject({ code: 'LINEAGE_IO', message: expect.stringContaining('is not a file') });
    await expect(fileFingerprint(join(dir, 'x'), { mode: 'deep' as 'stat' })).rejects.toMatchObject({ code: 'LINEAGE_INVALID_ARGUMENT' });
  });
});
