// A smoke run of the benchmark suite (bench/run.js) at S=200: every measure
// script runs and prints what BENCHMARKS.md reads. Checks shapes and counts,
// never timings (the machine is shared; see BENCHMARKS.md for the figures).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

describe('benchmark suite (smoke, S=200)', () => {
  it('runs every measure and reproduces W1 through the Pipeline', () => {
    const out = execFileSync(process.execPath, [join(root, 'bench', 'run.js'), '--sources', '200'], { encoding: 'utf8', cwd: root });
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const by = new Map(lines.filter((l) => typeof l.measure === 'string').map((l) => [l.measure as string, l]));
    expect([...by.keys()]).toEqual(['record', 'completion', 'plan', 'inspect', 'verify', 'rerun', 'overhead', 'record-sources', 'output-checks']);
    // W1 at S=200: 2,120 emissions, 2,760 tasks.
    expect(by.get('record')).toMatchObject({ emissions: 2120, tasks: 2760 });
    expect(by.get('completion')).toMatchObject({ tasks: 2760, completed: 2760 });
    expect(by.get('plan')).toMatchObject({ sources: 200, skip: 200, tasks: 2760 });
    expect(by.get('inspect')).toMatchObject({ exit_code: 0, tasks: 2760 });
    expect(by.get('verify')).toMatchObject({ exit_code: 0 });
    // The Pipeline makes exactly W1's calls (merge in groups of 4), then none on the rerun.
    expect(by.get('rerun')).toMatchObject({ first_run_stage_calls: 2120, stage_calls: 0, sources_skipped: 200 });
    expect(by.get('overhead')).toMatchObject({ stage_calls: 2120 });
    expect(by.get('record-sources')).toMatchObject({ stage_calls: 200 + 800 + 800 + 640 });
    expect(lines.at(-1)).toMatchObject({ workload: 'W1', sources: 200 });
  }, 120_000);
});
