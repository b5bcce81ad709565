import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childLineage, rootLineage } from '../src/index.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'lineage.js');
let work = '';
let ckpt = '';

function lineage(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', input, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  work = mkdtempSync(join(tmpdir(), 'lineage-cli-plan-'));
  ckpt = join(work, 'ckpt');
  const r = spawnSync(process.execPath, [join(ROOT, 'fixtures', 'checkpoints', 'small.js'), ckpt], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('lineage plan', () => {
  it('prints totals, then per stage, then the sources to run', () => {
    const r = lineage(['plan', ckpt]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.replaceAll(ckpt, '<ckpt>')).toMatchSnapshot();
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

  it('bad input: one line with the code; usage problems exit 2, checkpoint problems 1', () => {
    const missing = lineage(['plan', ckpt, '--sources', join(work, 'nope.txt')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^lineage: LINEAGE_BAD_SOURCES: sources file .*nope\.txt does not exist/);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const empty = join(work, 'empty.txt');
    writeFileSync(empty, '# nothing\n\n');
    expect(lineage(['plan', ckpt, '--sources', empty]).stderr).toMatch(/LINEAGE_BAD_SOURCES: .* lists no source keys/);
    const unknown = lineage(['plan', ckpt, '--explain', 'no-such-source']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^lineage: LINEAGE_UNKNOWN_TASK: /);
    const notCkpt = lineage(['plan', work]);
    expect(notCkpt.code).toBe(1);
    expect(notCkpt.stderr).toMatch(/^lineage: LINEAGE_NOT_A_CHECKPOINT: /);
  });
});
