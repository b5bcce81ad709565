import { describe, expect, it } from 'vitest';
import { LineageStore, Pipeline, explainResume, failed, planResume, rootLineage, type Stage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

/** split a string into characters → check each (fail on "x", drop "-") → write (final). */
function pipeline(opts: { bad?: string; version?: string; calls?: string[] } = {}) {
  const calls = opts.calls ?? [];
  const stages: Stage[] = [
    { id: 'split', process: (s: string) => (calls.push('split'), s.length ? s.split('') : null) },
    { id: 'check', ...(opts.version ? { version: opts.version } : {}), process: (c: string) => (calls.push('check'), c === opts.bad ? failed(`bad char ${c}`) : c === '-' ? null : c) },
    { id: 'write', process: (c: string) => (calls.push('write'), `wrote ${c}`) },
  ];
  return new Pipeline(stages);
}

const srcs = (m: Record<string, string>) => Object.entries(m).map(([key, data]) => ({ key, data }));

describe('planResume', () => {
  it('gives each source a verdict and why; per stage, what reruns and what is pruned', async () => {
    const dir = tempDir();
    await pipeline({ bad: 'x' }).run(srcs({ done: 'ab', empty: '', partial: 'axc-' }), { checkpoint: dir });
    const plan = await planResume(dir, { sources: ['done', 'empty', 'partial', 'fresh'] });
    const by = Object.fromEntries(plan.sources.map((s) => [s.sourceKey, s]));
    expect(by.done).toMatchObject({ verdict: 'skip', rerun: 0 });
    expect(by.empty).toMatchObject({ verdict: 'skip' });
    expect(by.fresh).toMatchObject({ verdict: 'new', udid: rootLineage('fresh').udid });
    // partial: root reruns at split; "x" failed in check; "a", "c" were written and "-" filtered: 3 subtrees pruned.
    expect(by.partial).toMatchObject({ verdict: 'resume', failed: 1, pending: 0, pruned: 3, rerun: 2 });
    expect(by.partial!.open).toEqual([expect.objectContaining({ status: 'failed', stage: 'split', at: 'check', error: 'bad char x' })]);
    expect(by.partial!.reason).toMatch(/1 failed; 3 completed subtree/);
    expect(plan.totals).toMatchObject({ sources: 4, skip: 2, resume: 1, new: 1, invalidated: 0, prunedSubtrees: 3, rerunTasks: 2 });
    expect(plan.stages).toEqual([
      { stage: 'split', rerun: 1, pruned: 0 },
      { stage: 'check', rerun: 1, pruned: 3 },
      { stage: 'write', rerun: 0, pruned: 0 },
    ]);
    expect(plan.fingerprint).toMatchObject({ changed: false, change: null });
    // The plan is what the rerun does.
    const calls: string[] = [];
    const report = await pipeline({ calls }).run(srcs({ done: 'ab', empty: '', partial: 'axc-' }), { checkpoint: dir });
    expect(calls).toEqual(['split', 'check', 'write']);
    expect(report.stages.map((s) => s.pruned)).toEqual([0, 3, 0]);
    expect(report.sources.skipped).toBe(2);
  });

  it('defaults to the sources the checkpoint knows', async () => {
    const dir = tempDir();
    await pipeline().run(srcs({ a: 'a', b: 'b' }), { checkpoint: dir });
    const plan = await planResume(dir);
    expect(plan.sources.map((s) => s.sourceKey).sort()).toEqual(['a', 'b']);
    expect(plan.totals.workSaved).toBe(1);
  });

  it('a changed stage: says which and how many sources go back to work; accepting keeps them', async () => {
    const dir = tempDir();
    await pipeline({ version: '1' }).run(srcs({ ab: 'ab', empty: '' }), { checkpoint: dir });
    const plan = await planResume(dir, { pipeline: pipeline({ version: '2' }) });
    expect(plan.fingerprint).toMatchObject({ changed: true, accepted: false, change: 'stage "check" changed version 1 → 2' });
    const by = Object.fromEntries(plan.sources.map((s) => [s.sourceKey, s]));
    expect(by.ab).toMatchObject({ verdict: 'invalidated' });
    expect(by.ab!.reason).toContain('stage "check" changed version 1 → 2');
    expect(by.empty).toMatchObject({ verdict: 'skip' }); // filtered by split, before the change
    expect(plan.totals.invalidated).toBe(1);
    expect(plan.stages.find((s) => s.stage === 'check')!.rerun).toBe(2);
    const ok = await planResume(dir, { pipeline: pipeline({ version: '2' }), acceptChange: true });
    expect(ok.totals).toMatchObject({ skip: 2, invalidated: 0 });
    // Renaming a stage is a change too.
    const renamed = await planResume(dir, { pipeline: [{ id: 'split' }, { id: 'verify' }, { id: 'write' }] });
    expect(renamed.fingerprint.change).toBe('stage "check" at position 2 was replaced by "verify"');
  });

  it('never writes: the checkpoint files are unchanged', async () => {
    const dir = tempDir();
    await pipeline({ bad: 'b' }).run(srcs({ ab: 'ab' }), { checkpoint: dir });
    const before = await snapshot(dir);
    await planResume(dir, { pipeline: pipeline({ version: '9' }) });
    expect(await snapshot(dir)).toEqual(before);
  });

  it('source-counter mode plans per source, and says so', async () => {
    const dir = tempDir();
    await pipeline({ bad: 'x' }).run(srcs({ ok: 'ab', bad: 'ax' }), { checkpoint: dir, mode: 'sources' });
    const plan = await planResume(dir, { sources: ['ok', 'bad', 'new'] });
    expect(plan.mode).toBe('sources');
    expect(plan.stages).toEqual([]);
    expect(plan.sources.map((s) => [s.sourceKey, s.verdict])).toEqual([
      ['ok', 'skip'],
      ['bad', 'resume'],
      ['new', 'new'],
    ]);
    expect(plan.sources[1]!.reason).toMatch(/failed in stage "check": bad char x; reruns whole \(source-counter mode\)/);
  });
});

describe('explainResume', () => {
  it('shows the path down to each failed or never-consumed task', async () => {
    const dir = tempDir();
    await pipeline({ bad: 'x' }).run(srcs({ partial: 'axc' }), { checkpoint: dir });
    const store = await LineageStore.open(dir, { readOnly: true });
    const why = explainResume(store, 'partial');
    expect(why).toMatchObject({ known: true, complete: false, sourceKey: 'partial', truncated: false });
    expect(why.open).toHaveLength(1);
    expect(why.open[0]!.task).toMatchObject({ status: 'failed', at: 'check', error: 'bad char x' });
    expect(why.open[0]!.path.map((p) => p.stage)).toEqual([null, 'split']);
    expect(why.open[0]!.path[0]!.udid).toBe(rootLineage('partial').udid);
    expect(explainResume(store, 'unknown-source')).toMatchObject({ known: false });
    await store.close();
  });
});

async function snapshot(dir: string): Promise<Record<string, string>> {
  const { readdirSync, readFileSync, statSync } = await import('node:fs');
  const { createHash } = await import('node:crypto');
  const { join, relative } = await import('node:path');
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (!name.endsWith('lock.mdb')) out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}
