// The dedup example (fixtures/example/dedup-pipeline.js: read → normalise → a stateful dedup
// stage) in real child processes, killed with SIGKILL after several checkpoints. The resumed run
// must restore the newest recorded checkpoint, feed `absorb` only the chunks that checkpoint did
// not hold, and write exactly the output of an uninterrupted run.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LineageStore, type RunReport, type StateCheckpoint } from '../../src/index.js';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import { ROOT, ensureBuilt } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';

const RUN_DEDUP = join(ROOT, 'fixtures', 'example', 'run-dedup.js');

interface App {
  absorbed: number;
  restored: number | null;
  saved: number[];
  expired: number[];
}

function runDedup(dir: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [RUN_DEDUP, dir, '--every', '5', '--keep', '3', ...args], { encoding: 'utf8', timeout: 120_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  const parsed = r.status === 0 ? (JSON.parse(last) as { report: RunReport; app: App }) : null;
  return { status: r.status, signal: r.signal, stderr: r.stderr, report: parsed?.report ?? null, app: parsed?.app ?? null };
}

const output = (dir: string) => (existsSync(join(dir, 'out', 'unique.jsonl')) ? readFileSync(join(dir, 'out', 'unique.jsonl'), 'utf8') : null);
const stateFiles = (dir: string) => (existsSync(join(dir, 'state')) ? readdirSync(join(dir, 'state')).filter((f) => f.endsWith('.json')).sort() : []);

/** The dedup stage's recorded checkpoints, newest first, as another process sees them. */
async function recorded(dir: string): Promise<StateCheckpoint[]> {
  const store = await LineageStore.open(join(dir, 'ckpt'), { readOnly: true });
  try {
    return store.stateCheckpoints().find((s) => s.stage === 'dedup')?.checkpoints ?? [];
  } finally {
    await store.close();
  }
}

let reference = '';
/** Chunks an uninterrupted run absorbs: every normalised chunk with records left. */
let totalChunks = 0;

beforeAll(() => {
  ensureBuilt();
  const dir = tempDir('lineage-dedup-ref-');
  makeExampleData(join(dir, 'data'));
  const r = runDedup(dir, '--no-checkpoint');
  expect(r.status, r.stderr).toBe(0);
  reference = output(dir)!;
  totalChunks = r.app!.absorbed;
  // 12 partitions of 6 chunks: one empty file, one partition all deleted.
  expect(totalChunks).toBe(60);
  expect(r.app!.saved).toEqual([]); // no checkpoint store: no Checkpointable call
  expect(reference.split('\n')[0]).toMatch(/^\{"customers":\d+,"chunks":60\}$/);
}, 120_000);

/** Resumes after a crash: restores the newest record, absorbs only what it does not hold, same output. */
function resumeAndCheck(dir: string, newest: StateCheckpoint) {
  const resumed = runDedup(dir);
  expect(resumed.status, resumed.stderr).toBe(0);
  expect(resumed.app!.restored).toBe(newest.id);
  expect(resumed.app!.absorbed).toBe(totalChunks - newest.absorbed);
  expect(resumed.report!.stages[2]!.state).toMatchObject({
    restoredFrom: newest.id,
    restored: newest.absorbed,
    absorbed: totalChunks - newest.absorbed,
    finished: true,
  });
  expect(output(dir)).toBe(reference);
  return resumed;
}

describe('a stateful stage killed and resumed (SIGKILL, real processes)', () => {
  it('killed after several checkpoints: resumes from the newest, absorbing only the chunks after it', async () => {
    const dir = tempDir();
    makeExampleData(join(dir, 'data'));
    const crashed = runDedup(dir, '--crash-at', 'dedup:33', '--slow-ms', '5');
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    expect(output(dir)).toBeNull();

    const records = await recorded(dir);
    expect(records.length).toBeGreaterThanOrEqual(2);
    expect(records.length).toBeLessThanOrEqual(3); // keepCheckpoints 3
    expect(records.map((c) => c.absorbed)).toEqual(records.map((c) => c.id * 5));
    // Every recorded checkpoint's state exists: expiry only ever follows a committed newer record.
    for (const c of records) expect(stateFiles(dir)).toContain(`dedup-${c.id}.json`);

    const resumed = resumeAndCheck(dir, records[0]!);
    // After finish every checkpoint is expired: none of the recorded ones' state is left.
    for (const c of records) expect(resumed.app!.expired).toContain(c.id);
    for (const id of [...records.map((c) => c.id), ...resumed.app!.saved]) expect(stateFiles(dir)).not.toContain(`dedup-${id}.json`);
    expect(await recorded(dir)).toEqual([]);

    const again = runDedup(dir);
    expect(again.report!.sources).toEqual({ read: 12, skipped: 12 });
    expect(again.app).toMatchObject({ absorbed: 0, restored: null });
    expect(output(dir)).toBe(reference);
  }, 120_000);

  it('killed twice (the resume too), then finished', async () => {
    const dir = tempDir();
    makeExampleData(join(dir, 'data'));
    // Checkpoint 4 (at chunk 20) expires checkpoint 1 only once it is on disk: at least 3 are recorded.
    expect(runDedup(dir, '--crash-at', 'dedup:23', '--slow-ms', '5').signal).toBe('SIGKILL');
    const first = await recorded(dir);
    expect(first.length).toBe(3);
    // The second run restores the newest, absorbs 14 more chunks and dies on the 15th.
    expect(runDedup(dir, '--crash-at', 'dedup:15', '--slow-ms', '5').signal).toBe('SIGKILL');
    const second = await recorded(dir);
    expect(second[0]!.id).toBeGreaterThan(first[0]!.id);
    expect(second[0]!.absorbed).toBeGreaterThan(first[0]!.absorbed);
    resumeAndCheck(dir, second[0]!);
  }, 120_000);

  it('killed from outside at an arbitrary moment', async () => {
    const dir = tempDir();
    makeExampleData(join(dir, 'data'));
    const child = spawn(process.execPath, [RUN_DEDUP, dir, '--every', '5', '--keep', '3', '--slow-ms', '40'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((done) => child.on('exit', (_code, signal) => done(signal)));
    const deadline = Date.now() + 60_000;
    while ((await recorded(dir).catch(() => [])).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const records = await recorded(dir);
    expect(records.length).toBeGreaterThanOrEqual(2);
    expect(output(dir)).toBeNull();
    resumeAndCheck(dir, records[0]!);
  }, 120_000);
});
