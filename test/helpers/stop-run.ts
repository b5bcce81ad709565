// Runs the stop pipeline (test/fixtures/stop-pipeline.js) in child processes: through the `lineage`
// binary or a plain script calling Pipeline.run, signalled mid-run, and compared with an uninterrupted run.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunReport } from '../../src/index.js';
import { BIN, ROOT } from './cli.js';

export const STOP_MODULE = join(ROOT, 'test', 'fixtures', 'stop-pipeline.js');
export const STOP_SCRIPT = join(ROOT, 'test', 'fixtures', 'stop-script.js');

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Started {
  readonly child: ChildProcess;
  readonly done: Promise<Finished>;
}

/** `lineage run` of the stop pipeline with home `home` (checkpoint `home/ckpt` unless given). */
export function startCli(home: string, env: Record<string, string> = {}, extra: string[] = [], checkpoint = join(home, 'ckpt')): Started {
  return start([BIN, 'run', STOP_MODULE, '--checkpoint', checkpoint, ...extra], home, env);
}

/** The plain script (Pipeline.run, no CLI) with `flags`. */
export function startScript(home: string, env: Record<string, string> = {}, flags: string[] = [], checkpoint = join(home, 'ckpt')): Started {
  return start([STOP_SCRIPT, checkpoint, ...flags], home, env);
}

function start(args: string[], home: string, env: Record<string, string>): Started {
  mkdirSync(home, { recursive: true });
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, STOP_HOME: home, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** The call log's lines ("<stage> <source>", "end work <source> <part>", "FILL"). */
export function callLog(home: string): string[] {
  const file = join(home, 'calls.log');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** Stage calls in the log (call starts only). */
export function callsIn(lines: readonly string[]): number {
  return lines.filter((l) => /^(split|work|merge|write) /.test(l)).length;
}

/** Waits until `test` holds for the call log (polling; fails after `ms`). */
export async function waitForLog(home: string, test: (lines: string[]) => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test(callLog(home))) {
    if (Date.now() > deadline) throw new Error(`the call log of ${home} never got there: ${callLog(home).slice(-5).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Output file → content. */
export function stopOutputs(home: string): Record<string, string> {
  const out = join(home, 'out');
  if (!existsSync(out)) return {};
  return Object.fromEntries(readdirSync(out).filter((f) => f.endsWith('.json')).map((f) => [f, readFileSync(join(out, f), 'utf8')]));
}

export function reportOf(stdout: string): RunReport {
  return JSON.parse(stdout) as RunReport;
}

export const totalCalls = (r: RunReport) => r.stages.reduce((n, s) => n + s.calls, 0);
