// Runs the example pipeline (fixtures/example) in child processes.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunReport } from '../../src/index.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const RUN_EXAMPLE = join(ROOT, 'fixtures', 'example', 'run-example.js');

export interface ExampleRun {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly report: RunReport | null;
}

/** The child processes import dist/: build once if it is missing. */
export function ensureBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
}

function parse(status: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): ExampleRun {
  const last = stdout.trim().split('\n').pop() ?? '';
  return { status, signal, stderr, report: status === 0 ? (JSON.parse(last) as RunReport) : null };
}

export function runExample(dir: string, ...args: string[]): ExampleRun {
  const r = spawnSync(process.execPath, [RUN_EXAMPLE, dir, ...args], { encoding: 'utf8', timeout: 120_000 });
  return parse(r.status, r.signal, r.stdout, r.stderr);
}

/** The same, without blocking: for writers that run concurrently. */
export function runExampleAsync(dir: string, ...args: string[]): Promise<ExampleRun> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [RUN_EXAMPLE, dir, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (status, signal) => done(parse(status, signal, stdout, stderr)));
  });
}

/** Output file name → content. */
export function outputs(dir: string): Record<string, string> {
  const out = join(dir, 'out');
  if (!existsSync(out)) return {};
  return Object.fromEntries(readdirSync(out).filter((f) => f.endsWith('.jsonl')).map((f) => [f, readFileSync(join(out, f), 'utf8')]));
}

export const stageCalls = (r: RunReport) => r.stages.reduce((n, s) => n + s.calls, 0);
