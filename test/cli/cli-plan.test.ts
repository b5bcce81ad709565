import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { childLineage, rootLineage } from '../../src/index.js';
import { ROOT, buildSmall, ensureBuilt, lineage as run, normalise } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

let work = '';
let ckpt = '';
const lineage = (args: string[], input?: string) => run(args, input === undefined ? {} : { input });

beforeAll(() => {
  ensureBuilt();
  work = tempDir('lineage-cli-plan-');
  ckpt = buildSmall(join(work, 'ckpt'));
});

describe('lineage plan', () => {
  it('prints totals, then per stage, then the sources to run', () => {
    const r = lineage(['plan', ckpt]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(normalise(r.stdout, ckpt)).toMatchSnapshot();
  });

  it('--json: one document on stdout', () => {
    const r = lineage(['plan', ckpt, '--json']);
    const plan = JSON.parse(r.stdout);
    expect(plan.totals).toMatchObject({ sources: 4, skip: 2, resume: 2, new: 0, invalidated: 0 });
    expect(plan.stages.map((s: { stage: string }) => s.stage)).toEqual(['split', 'clean', 'merge', 'write']);
  });

  it('--sources: a file, or - for stdin; unknown keys are new', () => {
    const file = join(work, 'next.txt');
    writeFileSync(file, '# next run\npart-0000.jsonl\n\npart-0009.jsonl\n');
    const a = JSON.parse(lineage(['plan', ckpt, '--sources', file, '--json']).stdout);
    expect(a.sources.map((s: { sourceKey: string; verdict: string }) => [s.sourceKey, s.verdict])).toEqual([
      ['part-0000.jsonl', 'skip'],
      ['part-0009.jsonl', 'new'],
    ]);
    const b = JSON.parse(lineage(['plan', ckpt, '--sources', '-', '--json'], 'part-0001.jsonl\n').stdout);
    expect(b.totals).toMatchObject({ sources: 1, resume: 1 });
  });

  it('--explain: the path down to each failed or never-consumed task', () => {
    const r = lineage(['plan', ckpt, '--explain', 'part-0001.jsonl']);
    expect(r.code).toBe(0);
    const failedChunk = childLineage('split', [rootLineage('part-0001.jsonl').udid], 2);
    expect(r.stdout).toContain(`split  ${failedChunk.udid}`);
    expect(r.stdout).toMatch(/failed in clean: bad record at line 7/);
    expect(lineage(['plan', ckpt, '--explain', 'part-0000.jsonl']).stdout).toMatch(/is complete: a rerun skips it/);
  });

  it('--pipeline: what a changed stage voids, and --accept-change', () => {
    const dir = tempDir('lineage-cli-plan-change-');
    const ck = join(dir, 'ck');
    expect(lineage(['run', join(ROOT, 'test', 'fixtures', 'tiny-pipeline.js'), '--checkpoint', ck]).code).toBe(1); // part-0001 has a bad chunk
    const changed = join(dir, 'changed.js');
    writeFileSync(
      changed,
      `import { Pipeline } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};\n` +
        `export default new Pipeline([{ id: 'split', process: (d) => d }, { id: 'clean', version: '2', process: (c) => c }, { id: 'write', process: (c) => c }]);\n`,
    );
    const r = lineage(['plan', ck, '--pipeline', changed]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('next run    split → clean@2 → write');
    expect(r.stdout).toContain('changed     stage "clean" changed version 1 → 2: completion from there on is void; 1 complete source(s) go back to work');
    expect(r.stdout).toMatch(/sources\s+3: 1 skip, 1 resume, 0 new, 1 invalidated/);
    const ok = lineage(['plan', ck, '--pipeline', changed, '--accept-change']);
    expect(ok.stdout).toContain('(accepted as cosmetic: completion kept)');
    expect(ok.stdout).toMatch(/sources\s+3: 2 skip, 1 resume, 0 new, 0 invalidated/);
    expect(lineage(['plan', ck, '--pipeline', join(dir, 'missing.js')]).stderr).toMatch(/^lineage: LINEAGE_MODULE_LOAD: /);
  });

  it('--pipeline with changed params: params-changed, the keys named; --json gives each source verdict, code and reason; --explain the trigger', () => {
    const dir = tempDir('lineage-cli-plan-params-');
    const ck = join(dir, 'ck');
    const module = (params: string) => {
      const file = join(dir, `p-${params.length}-${Math.abs([...params].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7))}.js`);
      writeFileSync(
        file,
        `import { Pipeline } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};\n` +
          `export default new Pipeline([{ id: 'split', process: (d) => d }, { id: 'clean', params: ${params}, process: (c) => c.toUpperCase() }, { id: 'write', process: (c) => c }]);\n` +
          `export const sources = [{ key: 'p0', data: ['a', 'b'] }, { key: 'p1', data: ['c'] }];\n`,
      );
      return file;
    };
    expect(lineage(['run', module('{ lang: "en", min: 1 }'), '--checkpoint', ck]).code).toBe(0);
    const same = lineage(['plan', ck, '--pipeline', module('{ min: 1, lang: "en" }'), '--json']);
    expect(JSON.parse(same.stdout).sources.map((s: { code: string }) => s.code)).toEqual(['complete', 'complete']);
    const next = module('{ lang: "de", min: 1, max: 9 }');
    const text = lineage(['plan', ck, '--pipeline', next]);
    expect(text.stderr).toBe('');
    expect(text.stdout).toContain('changed     stage "clean" changed params: lang, max: completion from there on is void; 2 complete source(s) go back to work');
    expect(text.stdout).toMatch(/ {2}params-changed \(2\):\n {4}p0 +was complete, but stage "clean" changed params: lang, max/);
    const json = JSON.parse(lineage(['plan', ck, '--pipeline', next, '--json']).stdout);
    expect(json.fingerprint).toMatchObject({ changed: true, code: 'params-changed', paramsChanged: ['lang', 'max'] });
    for (const s of json.sources) {
      expect(s).toMatchObject({ verdict: 'invalidated', code: 'params-changed' });
      expect(s.reason).toMatch(/changed params: lang, max/);
    }
    const why = lineage(['plan', ck, '--pipeline', next, '--explain', 'p1']);
    expect(why.stdout).toContain('verdict     invalidated (params-changed): was complete, but stage "clean" changed params: lang, max');
    expect(why.stdout).toContain('trigger     stage "clean" changed params: lang, max');
    expect(why.stdout).toMatch(/next run {4}split → clean\[params [0-9a-f]{8}\] → write/);
    expect(why.stdout).toContain('was complete, but that change voids it');
    const whyJson = JSON.parse(lineage(['plan', ck, '--pipeline', next, '--explain', 'p1', '--json']).stdout);
    expect(whyJson.trigger).toMatchObject({ verdict: 'invalidated', code: 'params-changed' });
    const bad = lineage(['plan', ck, '--pipeline', module('{ when: 1n }')]);
    // Refused where the module builds its Pipeline, as any inconsistent pipeline is: a module that cannot be used.
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^lineage: LINEAGE_MODULE_LOAD: .*importing it failed: LINEAGE_INVALID_PIPELINE: stage "clean": params\.when is a BigInt/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('bad input: one line with the code; usage problems exit 2, checkpoint problems 1', () => {
    const missing = lineage(['plan', ckpt, '--sources', join(work, 'nope.txt')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^lineage: LINEAGE_BAD_SOURCES: the source list .*nope\.txt does not exist/);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const empty = join(work, 'empty.txt');
    writeFileSync(empty, '# nothing\n\n');
    expect(lineage(['plan', ckpt, '--sources', empty]).stderr).toMatch(/LINEAGE_BAD_SOURCES: .* holds no source keys/);
    const unknown = lineage(['plan', ckpt, '--explain', 'no-such-source']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^lineage: LINEAGE_UNKNOWN_TASK: /);
    const notCkpt = lineage(['plan', work]);
    expect(notCkpt.code).toBe(1);
    expect(notCkpt.stderr).toMatch(/^lineage: LINEAGE_NOT_A_CHECKPOINT: /);
  });
});
