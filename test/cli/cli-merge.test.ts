import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { LineageStore, childLineage, rootLineage } from '../../src/index.js';
import { ROOT, buildSmall, ensureBuilt, lineage, lineageInProcess, snapshotTree } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const recorder = join(ROOT, 'test', 'children', 'record-sources.mjs');

/**
 * A checkpoint four writers recorded: three worker processes (the third stopped
 * after split), and a fourth that failed one chunk and wrote the three chunks
 * of part-1201, which makes part-1201 complete only in the union of shards.
 * 10,003 tasks: enough for one progress report of the merge (every 10,000).
 */
let multi = '';
let small = '';
beforeAll(async () => {
  ensureBuilt();
  const dir = tempDir('lineage-cli-merge-');
  small = buildSmall(join(dir, 'small'));
  multi = join(dir, 'multi');
  await Promise.all([0, 1, 2].map((k) => exec(process.execPath, [recorder, multi, `w${k}`, String(k * 600), k === 2 ? '700' : '600', k === 2 ? 'split' : 'write'])));
  const w = await LineageStore.open(multi, { writerId: 'w9', onWarning: () => {} });
  w.recordFailure({ stage: 'filter', task: childLineage('split', [rootLineage('part-1300').udid], 1, 'part-1300'), error: 'bad record' });
  for (const j of [0, 1, 2]) {
    // With source keys, as a runner passes them: this shard does not hold the root they descend from.
    const chunk = childLineage('split', [rootLineage('part-1201').udid], j, 'part-1201');
    w.recordEmission({ stage: 'write', parents: [chunk], children: [childLineage('write', [chunk.udid], 0, 'part-1201')], terminal: true });
  }
  await w.close();
});

interface Task {
  udid: string;
  status: string;
  stage: string | null;
  sourceKey: string | null;
  taskType: string;
  terminal: boolean;
  parents: string[];
  children: string[];
  outcome: unknown;
  completed: unknown;
}

/** What `inspect --format ndjson` says, in an order and form a merge must keep (run numbers of completion change). */
function tasksOf(ckpt: string): Task[] {
  const r = lineage(['inspect', ckpt, '--format', 'ndjson']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Task)
    .map((t) => ({ ...t, parents: [...t.parents].sort(), children: [...t.children].sort(), completed: t.completed !== null }))
    .sort((a, b) => a.udid.localeCompare(b.udid));
}

function statsOf(ckpt: string) {
  const r = lineage(['stats', ckpt, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { tasks: number; edges: number; byStatus: unknown; byType: unknown; byStage: unknown; sources: unknown; shards: { writerId: string }[] };
}

const counts = ({ tasks, edges, byStatus, byType, byStage, sources }: ReturnType<typeof statsOf>) => ({ tasks, edges, byStatus, byType, byStage, sources });

function copyOf(ckpt: string): string {
  const dir = join(tempDir('lineage-cli-merge-'), 'ckpt');
  cpSync(ckpt, dir, { recursive: true });
  return dir;
}

describe('lineage merge', () => {
  it('compacts the shards in place: the same tasks, statuses and counts, and verify passes', () => {
    const ckpt = copyOf(multi);
    const before = { tasks: tasksOf(ckpt), stats: statsOf(ckpt) };
    expect(before.stats.shards.map((s) => s.writerId)).toEqual(['w0', 'w1', 'w2', 'w9']);
    expect(before.tasks.find((t) => t.udid === rootLineage('part-1201').udid)).toMatchObject({ status: 'completed', completed: true });
    // 1200 written sources: 5 complete tasks and 1 filtered chunk each; 700 split-only sources: 4 pending each,
    // less the failed chunk and part-1201 (root + 3 chunks complete, + 3 write tasks).
    expect(before.stats.byStatus).toEqual({ completed: 6007, filtered: 1200, failed: 1, pending: 2795 });

    const r = lineage(['merge', ckpt]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^merged 4 shards of ${ckpt} \\(in place\\): 10003 tasks, 9303 edges, 7207 complete; verified against the union, \\d+\\.\\d s\\n$`));

    const after = statsOf(ckpt);
    expect(after.shards.map((s) => s.writerId)).toEqual(['main']);
    expect(counts(after)).toEqual(counts(before.stats));
    expect(tasksOf(ckpt)).toEqual(before.tasks);
    expect(readdirSync(join(ckpt, '..'))).toEqual(['ckpt']); // no temp directory left beside it
    const verify = lineage(['verify', ckpt]);
    expect(verify.stdout).toContain('ok: no problems found.');
    expect(verify.code).toBe(0);
  });

  it('--into writes a merged copy and leaves the checkpoint as it was; --json prints the result', () => {
    const ckpt = copyOf(multi);
    const into = join(tempDir('lineage-cli-merge-'), 'merged');
    const data = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => !k.endsWith('lock.mdb')));
    const before = data(snapshotTree(ckpt));
    const r = lineage(['merge', ckpt, '--into', into, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(result).toEqual({ from: ckpt, into, shardsMerged: 4, tasks: 10003, edges: 9303, completed: 7207, elapsedMs: expect.any(Number) });
    expect(data(snapshotTree(ckpt))).toEqual(before);
    expect(counts(statsOf(into))).toEqual(counts(statsOf(ckpt)));
    expect(tasksOf(into)).toEqual(tasksOf(ckpt));
    expect(lineage(['verify', into]).code).toBe(0);
    // The picture of one source is the same before and after, and Graphviz reads both.
    const dot = (c: string) => lineage(['inspect', c, '--format', 'dot', '--source', 'part-1201']).stdout;
    expect(dot(into)).toBe(dot(ckpt));
    expect(execFileSync('dot', ['-Tplain'], { input: dot(into), encoding: 'utf8' })).toMatch(/^graph [\d.]+ [\d.]+ [\d.]+\n(node .*\n){7}(edge .*\n){6}stop\n$/);
  });

  it('keeps the fingerprint, and merging a single shard is a no-op copy', () => {
    const into = join(tempDir('lineage-cli-merge-'), 'merged');
    const r = lineage(['merge', small, '--into', into]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^merged 1 shard of .* into .*: 19 tasks, 17 edges, 9 complete;/);
    expect(lineage(['inspect', into]).stdout.replace(into, '<ckpt>')).toBe(lineage(['inspect', small]).stdout.replace(small, '<ckpt>'));
  });

  it('shows progress on stderr only when asked to (a terminal), and clears it', async () => {
    const quiet = await lineageInProcess(['merge', copyOf(multi)], { progress: false });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    const shown = await lineageInProcess(['merge', copyOf(multi)], { progress: true, progressDelayMs: 0 });
    expect(shown.code).toBe(0);
    const clear = '\r\u001b[K';
    expect(shown.stderr).toBe(`${clear}merge: 10000 tasks replayed${clear}`);
    expect(shown.stdout).toMatch(/^merged 4 shards .*\n$/);
  });
});

describe('lineage merge: bad targets and states, nothing changed', () => {
  it.each([
    ['an existing checkpoint', (p: string) => (cpSync(small, join(p, 'other'), { recursive: true }), join(p, 'other')), /it holds a checkpoint/],
    ['a directory with files', (p: string) => (mkdirSync(join(p, 'out')), writeFileSync(join(p, 'out', 'a.txt'), 'a'), join(p, 'out')), /it holds 1 entry \(a\.txt\)/],
    ['a file', (p: string) => (writeFileSync(join(p, 'out.txt'), 'a'), join(p, 'out.txt')), /it is a file/],
    ['the checkpoint itself', (p: string) => join(p, 'ckpt'), /it is the checkpoint itself/],
    ['a directory inside the checkpoint', (p: string) => join(p, 'ckpt', 'merged'), /it is inside the checkpoint/],
  ])('--into %s: LINEAGE_INVALID_ARGUMENT, exit 2', (_what, target, message) => {
    const parent = tempDir('lineage-cli-merge-');
    cpSync(multi, join(parent, 'ckpt'), { recursive: true });
    const into = target(parent);
    const before = snapshotTree(parent);
    const r = lineage(['merge', join(parent, 'ckpt'), '--into', into]);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^lineage: LINEAGE_INVALID_ARGUMENT: merge into ${into}: expected a new or empty directory, but [^\\n]+\\n$`));
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(snapshotTree(parent)).toEqual(before);
  });

  it('a source-counter checkpoint: LINEAGE_MODE_MISMATCH, exit 1', async () => {
    const parent = tempDir('lineage-cli-merge-');
    const ckpt = join(parent, 'ckpt');
    await (await LineageStore.open(ckpt, { mode: 'sources' })).close();
    const before = snapshotTree(parent);
    const r = lineage(['merge', ckpt]);
    expect(r.stderr).toMatch(/^lineage: LINEAGE_MODE_MISMATCH: .* is a source-counter checkpoint; merge compacts DAG checkpoints only\.\n$/);
    expect(r.code).toBe(1);
    const data = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => !k.endsWith('lock.mdb')));
    expect(data(snapshotTree(parent))).toEqual(data(before));
  });

  it('an owner record from another host: a fresh heartbeat holds the shard, a stale one does not (whatever its pid means here)', () => {
    const ckpt = copyOf(small);
    const owner = (ageMs: number) =>
      writeFileSync(
        join(ckpt, 'writers', 'main', 'owner.json'),
        // The pid of a live process on this host: it must not be mistaken for the remote writer.
        JSON.stringify({ host: 'worker-17.cluster.example', pid: process.pid, startedAt: new Date(Date.now() - 3_600_000).toISOString(), heartbeatAt: new Date(Date.now() - ageMs).toISOString() }),
      );
    owner(1000);
    const locked = lineage(['merge', ckpt]);
    expect(locked.stderr).toMatch(/^lineage: LINEAGE_LOCKED: writer shard "main" at .* is being written by pid \d+ on host worker-17\.cluster\.example/);
    expect(locked.code).toBe(1);
    owner(10 * 60_000);
    const merged = lineage(['merge', ckpt]);
    expect(merged.stderr).toBe('');
    expect(merged.code).toBe(0);
  });
});
