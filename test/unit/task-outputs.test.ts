// Outputs that must exist, through the library: a stage's outputs() are recorded with
// the task it consumed; a plan and a starting run find a deleted one, the plan says
// output-missing with its path, and the run voids that task and what it led to and
// writes the file again, touching nothing else. checkOutputs: false turns it off.
// outputs() that throws or returns anything but strings stops the run with
// LINEAGE_BAD_OUTPUTS naming the stage, and nothing of that call is recorded.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LineageError, LineageStore, Pipeline, mergeCheckpoint, planResume, type Stage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

/** split a word into letters → upper-case each → write them per source into out/<source>.txt, declared as the output. */
function writer(out: string, calls: Record<string, number>, outputs?: Stage['outputs']): Pipeline {
  const count = (id: string) => (calls[id] = (calls[id] ?? 0) + 1);
  const stages: Stage[] = [
    { id: 'split', process: (w: string) => (count('split'), w.split('')) },
    { id: 'upper', process: (c: string) => (count('upper'), c.toUpperCase()) },
    {
      id: 'write',
      groupBy: 'source',
      processBatch: (cs: string[], ctx) => {
        count('write');
        const file = join(out, `${ctx.sourceKey}.txt`);
        writeFileSync(file, cs.sort().join(''));
        return { file };
      },
      outputs: outputs ?? ((r) => [(r as { file: string }).file]),
    },
  ];
  return new Pipeline(stages);
}

const words = [
  { key: 'a', data: 'abc' },
  { key: 'b', data: 'xy' },
  { key: 'c', data: 'mnop' },
];

function setup(): { dir: string; out: string; calls: Record<string, number> } {
  const home = tempDir();
  const out = join(home, 'out');
  mkdirSync(out);
  return { dir: join(home, 'ckpt'), out, calls: {} };
}

const reset = (calls: Record<string, number>) => {
  for (const k of Object.keys(calls)) delete calls[k];
};

describe('outputs that must exist', () => {
  it('a deleted output: the plan says output-missing with the path, the run rewrites it alone, then all is complete', async () => {
    const { dir, out, calls } = setup();
    const p = writer(out, calls);
    await p.run(words, { checkpoint: dir });
    const store = await LineageStore.open(dir, { readOnly: true });
    const recorded = [...store.recordedOutputs()].sort((x, y) => String(x.sourceKey).localeCompare(String(y.sourceKey)));
    await store.close();
    expect(recorded.map((r) => [r.sourceKey, r.stage, r.paths])).toEqual([
      ['a', 'upper', [join(out, 'a.txt')]],
      ['b', 'upper', [join(out, 'b.txt')]],
      ['c', 'upper', [join(out, 'c.txt')]],
    ]);

    rmSync(join(out, 'b.txt'));
    const plan = await planResume(dir);
    const b = plan.sources.find((s) => s.sourceKey === 'b')!;
    expect(b).toMatchObject({ verdict: 'resume', code: 'output-missing', reason: `output-missing: ${join(out, 'b.txt')}` });
    expect(b.missingOutputs).toEqual([{ udid: expect.any(String), stage: 'upper', path: join(out, 'b.txt') }]);
    expect(b.rerun).toBeGreaterThan(0);
    expect(plan.sources.filter((s) => s.sourceKey !== 'b').map((s) => s.verdict)).toEqual(['skip', 'skip']);
    expect(plan.totals).toMatchObject({ skip: 2, resume: 1 });

    reset(calls);
    const report = await p.run(words, { checkpoint: dir });
    expect(report.outputsMissing).toBe(1);
    expect(report.sources).toEqual({ read: 3, skipped: 2 });
    // b's group is written again from its letters; nothing of a or c runs.
    expect(calls).toEqual({ split: 1, upper: 2, write: 1 });
    expect(readFileSync(join(out, 'b.txt'), 'utf8')).toBe('XY');

    const after = await planResume(dir);
    expect(after.sources.map((s) => s.code)).toEqual(['complete', 'complete', 'complete']);
    reset(calls);
    const again = await p.run(words, { checkpoint: dir });
    expect(again.outputsMissing).toBe(0);
    expect(calls).toEqual({});
  });

  it('checkOutputs: false plans and runs as if the outputs were there', async () => {
    const { dir, out, calls } = setup();
    const p = writer(out, calls);
    await p.run(words, { checkpoint: dir });
    rmSync(join(out, 'a.txt'));
    const plan = await planResume(dir, { checkOutputs: false });
    expect(plan.sources.map((s) => s.verdict)).toEqual(['skip', 'skip', 'skip']);
    reset(calls);
    const report = await p.run(words, { checkpoint: dir, checkOutputs: false });
    expect(report.outputsMissing).toBe(0);
    expect(calls).toEqual({});
    expect(existsSync(join(out, 'a.txt'))).toBe(false);
  });

  it('relative paths are recorded absolute; several outputs, any one gone, voids the task', async () => {
    const { dir, out, calls } = setup();
    const rel = relative(process.cwd(), join(out, 'a.txt'));
    const p = writer(out, calls, (r) => {
      const file = (r as { file: string }).file;
      return [relative(process.cwd(), file), `${file}.missing-on-purpose`];
    });
    await p.run([words[0]!], { checkpoint: dir });
    const store = await LineageStore.open(dir, { readOnly: true });
    expect([...store.recordedOutputs()][0]!.paths).toEqual([join(process.cwd(), rel), `${join(out, 'a.txt')}.missing-on-purpose`]);
    await store.close();
    const plan = await planResume(dir);
    expect(plan.sources[0]).toMatchObject({ code: 'output-missing', reason: `output-missing: ${join(out, 'a.txt')}.missing-on-purpose` });
  });

  it('merge keeps the recorded outputs', async () => {
    const { dir, out, calls } = setup();
    await writer(out, calls).run(words, { checkpoint: dir });
    const into = join(tempDir(), 'merged');
    await mergeCheckpoint(dir, { into });
    const merged = await LineageStore.open(into, { readOnly: true });
    expect([...merged.recordedOutputs()].map((r) => r.paths[0]).sort()).toEqual(['a', 'b', 'c'].map((k) => join(out, `${k}.txt`)));
    await merged.close();
    rmSync(join(out, 'c.txt'));
    expect((await planResume(into)).sources.find((s) => s.sourceKey === 'c')!.code).toBe('output-missing');
  });

  const bad: [string, Stage['outputs']][] = [
    ['a number', () => 42 as never],
    ['null', () => null as never],
    ['an array holding a number', () => [1] as never],
    ['an array holding an empty string', () => ['']],
    ['a promise', () => Promise.resolve(['x']) as never],
    ['a throw', () => {
      throw new Error('no idea where I wrote it');
    }],
  ];
  for (const [what, outputs] of bad) {
    it(`outputs() giving ${what}: LINEAGE_BAD_OUTPUTS naming the stage, and that call is not recorded`, async () => {
      const { dir, out, calls } = setup();
      const err = await writer(out, calls, outputs)
        .run([words[0]!], { checkpoint: dir })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(LineageError);
      expect((err as LineageError).code).toBe(ErrorCodes.BAD_OUTPUTS);
      expect((err as LineageError).message).toContain('stage "write"');
      expect((err as LineageError).message).toContain('source "a"');
      const store = await LineageStore.open(dir, { readOnly: true });
      expect(store.isSourceCompleted('a')).toBe(false);
      expect([...store.recordedOutputs()]).toEqual([]);
      expect([...store.tasks()].filter((t) => t.stage === 'write')).toEqual([]);
      await store.close();
    });
  }
});
