import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { childLineage, rootLineage } from '../../src/index.js';
import { buildSmall, ensureBuilt, lineage, lineageInProcess, normalise, snapshotTree } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

// One small fixed checkpoint for the whole file; nothing here writes to it.
let ckpt = '';
beforeAll(() => {
  ensureBuilt();
  ckpt = buildSmall(`${tempDir('lineage-cli-inspect-')}/ckpt`);
});

const s0 = rootLineage('part-0000.jsonl');
const s1 = rootLineage('part-0001.jsonl');
const failedChunk = childLineage('split', [s1.udid], 2);

const text = (args: string[]) => {
  const r = lineage(args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return normalise(r.stdout, ckpt);
};

describe('lineage inspect: the readable summary and trees', () => {
  it('draws a tree per source with status marks, fan-ins shown once', () => {
    expect(text(['inspect', ckpt])).toMatchSnapshot();
  });

  it('--source: one source', () => {
    expect(text(['inspect', ckpt, '--source', 'part-0001.jsonl'])).toMatchSnapshot();
  });

  it('--udid (a prefix works): ancestors, then the subtree', () => {
    const merged = childLineage('merge', [childLineage('clean', [childLineage('split', [s0.udid], 0).udid], 0).udid, childLineage('clean', [childLineage('split', [s0.udid], 1).udid], 0).udid], 0);
    expect(text(['inspect', ckpt, '--udid', merged.udid.slice(0, 8)])).toMatchSnapshot();
    expect(text(['inspect', ckpt, '--udid', merged.udid])).toBe(text(['inspect', ckpt, '--udid', merged.udid.slice(0, 8)]).replace(`--udid ${merged.udid.slice(0, 8)}`, `--udid ${merged.udid}`));
  });

  it('--status and --stage list the matching tasks', () => {
    expect(text(['inspect', ckpt, '--status', 'failed'])).toMatchSnapshot();
    expect(text(['inspect', ckpt, '--stage', 'merge'])).toMatchSnapshot();
    // Pending clean tasks: part-0001's cleaned chunk (never consumed) and part-0002's two (merged, never written).
    const pendingClean = text(['inspect', ckpt, '--status', 'pending', '--stage', 'clean']);
    expect(pendingClean).toContain('tasks       3: 0 completed, 0 filtered, 0 failed, 3 pending');
    expect(pendingClean.split('\n\n')[1]).toBe(
      ['○ clean  e15d6c70  not consumed yet  [part-0001.jsonl]', '○ clean  b238182e  [part-0002.jsonl]', '○ clean  b83f8a2e  [part-0002.jsonl]', ''].join('\n'),
    );
  });

  it('--depth and --limit bound the trees', () => {
    expect(text(['inspect', ckpt, '--depth', '1', '--limit', '9'])).toMatchSnapshot();
    expect(text(['inspect', ckpt, '--depth', '0'])).toContain('✓ part-0000.jsonl  07498d2c  (+2 children below --depth 0)');
  });

  it('names what it cannot find, exit 1', () => {
    const r = lineage(['inspect', ckpt, '--source', 'part-9999.jsonl']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^lineage: LINEAGE_UNKNOWN_TASK: .*no source with key "part-9999.jsonl"/);
    expect(lineage(['inspect', ckpt, '--udid', 'ffffffffff']).stderr).toMatch(/^lineage: LINEAGE_UNKNOWN_TASK: .*no task whose UDID starts with ffffffffff/);
    const bad = lineage(['inspect', ckpt, '--udid', 'xyz']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^lineage: LINEAGE_INVALID_UDID: --udid "xyz" is not a UDID/);
  });
});

describe('lineage inspect: machine formats', () => {
  it('--format ndjson: one task a line, stdout only', () => {
    const r = lineage(['inspect', ckpt, '--format', 'ndjson']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const tasks = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(tasks).toHaveLength(19);
    expect(tasks.find((t) => t.udid === failedChunk.udid)).toMatchObject({
      status: 'failed',
      stage: 'split',
      sourceKey: 'part-0001.jsonl',
      taskType: 'leaf',
      parents: [s1.udid],
      children: [],
      outcome: { kind: 'failed', stage: 'clean', error: 'bad record at line 7: unexpected token } in JSON' },
      completed: null,
    });
    const counts: Record<string, number> = {};
    for (const t of tasks) counts[t.status as string] = (counts[t.status as string] ?? 0) + 1;
    expect(counts).toEqual({ completed: 7, filtered: 2, failed: 1, pending: 9 });
  });

  it('--format json: one document with the checkpoint and the tasks; filters apply', () => {
    const doc = JSON.parse(lineage(['inspect', ckpt, '--format', 'json']).stdout) as { checkpoint: Record<string, unknown>; tasks: unknown[] };
    expect(doc.checkpoint).toMatchObject({ path: ckpt, formatVersion: 4, mode: 'dag', shards: ['main'] });
    expect(doc.tasks).toHaveLength(19);
    const one = JSON.parse(lineage(['inspect', ckpt, '--format', 'json', '--source', 'part-0003.jsonl']).stdout) as { tasks: { status: string }[] };
    expect(one.tasks).toEqual([expect.objectContaining({ status: 'filtered', sourceKey: 'part-0003.jsonl' })]);
    const none = JSON.parse(lineage(['inspect', ckpt, '--format', 'json', '--stage', 'nope']).stdout) as { tasks: unknown[] };
    expect(none.tasks).toEqual([]);
  });

  it('--format dot parses with Graphviz, edges only between drawn tasks', () => {
    const dot = lineage(['inspect', ckpt, '--format', 'dot']).stdout;
    expect(dot).toMatch(/^digraph lineage \{/);
    expect((dot.match(/ -> /g) ?? []).length).toBe(17);
    const svg = execFileSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
    expect(svg).toContain('<svg');
    const part = lineage(['inspect', ckpt, '--format', 'dot', '--source', 'part-0001.jsonl']).stdout;
    expect(execFileSync('dot', ['-Tplain'], { input: part, encoding: 'utf8' })).toMatch(/^graph /);
    expect((part.match(/ -> /g) ?? []).length).toBe(4);
  });

  it('--format dot escapes awkward source keys', async () => {
    const dir = `${tempDir('lineage-cli-dot-')}/ckpt`;
    const { LineageStore } = await import('../../src/index.js');
    const store = await LineageStore.open(dir);
    const odd = rootLineage('weird "name"\\with\nnewline.jsonl');
    store.recordEmission({ stage: 'split', parents: [odd], children: [childLineage('split', [odd.udid], 0)] });
    await store.close();
    const dot = lineage(['inspect', dir, '--format', 'dot']).stdout;
    execFileSync('dot', ['-Tsvg'], { input: dot });
    expect(lineage(['inspect', dir, '--format', 'mermaid']).stdout).toContain('weird #quot;name#quot;\\with newline.jsonl');
  });

  it('--format mermaid: a flowchart with a class per status', () => {
    const m = lineage(['inspect', ckpt, '--format', 'mermaid', '--source', 'part-0000.jsonl']).stdout;
    expect(normalise(m, ckpt)).toMatchSnapshot();
    // Sane for every task: declared once, edges between declared nodes only, every class defined.
    const all = lineage(['inspect', ckpt, '--format', 'mermaid']).stdout.trimEnd().split('\n');
    expect(all[0]).toBe('flowchart LR');
    const nodes = new Set<string>();
    const used = new Set<string>();
    const defined = new Set<string>();
    let edges = 0;
    for (const line of all.slice(1)) {
      const node = /^ {2}(t[0-9a-f]{32})\["([^"]*)"\]:::(\w+)$/.exec(line);
      const edge = /^ {2}(t[0-9a-f]{32}) --> (t[0-9a-f]{32})$/.exec(line);
      const cls = /^ {2}classDef (\w+) fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6}$/.exec(line);
      if (node) {
        expect(nodes.has(node[1]!)).toBe(false);
        nodes.add(node[1]!);
        used.add(node[3]!);
      } else if (edge) {
        expect(nodes.has(edge[1]!) && nodes.has(edge[2]!)).toBe(true);
        edges++;
      } else if (cls) defined.add(cls[1]!);
      else expect.unreachable(`unexpected mermaid line: ${line}`);
    }
    expect(nodes.size).toBe(19);
    expect(edges).toBe(17);
    expect([...used].every((c) => defined.has(c))).toBe(true);
  });

  it('--limit bounds every format', () => {
    expect(lineage(['inspect', ckpt, '--format', 'ndjson', '--limit', '3']).stdout.trimEnd().split('\n')).toHaveLength(3);
    expect((JSON.parse(lineage(['inspect', ckpt, '--format', 'json', '--limit', '2']).stdout) as { tasks: unknown[] }).tasks).toHaveLength(2);
  });

  it('in-process main() gives the same output as the binary; reading changes no data on disk', async () => {
    const before = snapshotTree(ckpt);
    for (const args of [['inspect', ckpt], ['inspect', ckpt, '--format', 'ndjson'], ['inspect', ckpt, '--format', 'dot', '--status', 'pending']]) {
      const r = await lineageInProcess(args);
      expect(r).toEqual(lineage(args));
    }
    const after = snapshotTree(ckpt);
    // LMDB's lock file records readers; the data and the manifest are untouched.
    const data = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => !k.endsWith('lock.mdb')));
    expect(data(after)).toEqual(data(before));
  });
});

describe('NDJSON lines', () => {
  it('the hand-built line is exactly JSON.stringify of the task record, for every kind of task', async () => {
    const { LineageStore } = await import('../../src/index.js');
    const { TaskLineWriter, taskRecord } = await import('../../src/cli/task-status.js');
    const store = await LineageStore.open(ckpt, { readOnly: true });
    const writer = new TaskLineWriter();
    const tasks = [...store.tasks()];
    expect(tasks.length).toBeGreaterThan(10);
    expect(new Set(tasks.map((t) => `${t.outcome?.kind}/${t.completed !== null}/${t.taskType}`)).size).toBeGreaterThan(4);
    for (const t of tasks) expect(writer.line(t)).toBe(JSON.stringify(taskRecord(t)));
    const odd = { ...tasks[0]!, stage: 'a "quoted"\nstage', sourceKey: 'ünï\\code', outcome: { kind: 'failed' as const, stage: 's', error: 'bad "x"' } };
    expect(writer.line(odd)).toBe(JSON.stringify(taskRecord(odd)));
    await store.close();
  });
});
