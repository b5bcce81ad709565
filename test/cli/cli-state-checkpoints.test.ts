// `lineage inspect`, `stats` and `plan` on a checkpoint whose stateful stage recorded
// checkpoints: the dedup example, killed (SIGKILL) after its 23rd chunk with a checkpoint
// every 5 chunks and 3 kept.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LineageStore, type StageCheckpoints } from '../../src/index.js';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import { ROOT, ensureBuilt } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';

const BIN = join(ROOT, 'bin', 'lineage.js');
let work = '';
let ckpt = '';
let recorded: StageCheckpoints[] = [];

function lineage(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  ensureBuilt();
  // Shared by every test (tempDir() is removed after each one).
  const dir = (work = mkdtempSync(join(tmpdir(), 'lineage-cli-state-')));
  makeExampleData(join(dir, 'data'));
  const r = spawnSync(process.execPath, [join(ROOT, 'fixtures', 'example', 'run-dedup.js'), dir, '--crash-at', 'dedup:23', '--every', '5', '--keep', '3', '--slow-ms', '5'], {
    encoding: 'utf8',
  });
  expect(r.signal, r.stderr).toBe('SIGKILL');
  ckpt = join(dir, 'ckpt');
  const store = await LineageStore.open(ckpt, { readOnly: true });
  recorded = store.stateCheckpoints();
  await store.close();
  expect(recorded).toHaveLength(1);
  expect(recorded[0]!.checkpoints.length).toBeGreaterThanOrEqual(2);
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('stateful stage checkpoints in the lineage command', () => {
  it('inspect and stats list them newest first: id, time, inputs absorbed', () => {
    const { checkpoints } = recorded[0]!;
    const section = [
      'stateful stage checkpoints (newest first; a resume is offered them in this order)',
      `  dedup (writer main): ${checkpoints.length} kept`,
      ...checkpoints.map((c) => `    #${c.id}  ${c.at}  ${c.absorbed} inputs absorbed`),
    ].join('\n');
    expect(lineage('inspect', ckpt, '--limit', '1')).toContain(section);
    expect(lineage('stats', ckpt)).toContain(section);
  });

  it('--json: inspect and stats carry them', () => {
    expect(JSON.parse(lineage('stats', ckpt, '--json')).stateCheckpoints).toEqual(recorded);
    const inspect = JSON.parse(lineage('inspect', ckpt, '--format', 'json', '--limit', '1'));
    expect(inspect.checkpoint.stateCheckpoints).toEqual(recorded);
  });

  it('plan says which checkpoint a resume is offered first and how many inputs it saves', () => {
    const newest = recorded[0]!.checkpoints[0]!;
    expect(lineage('plan', ckpt)).toContain(
      `stateful    dedup (writer main): a resume is offered checkpoint #${newest.id} first (of ${recorded[0]!.checkpoints.length}, recorded ${newest.at}); ` +
        `restored, it saves absorbing ${newest.absorbed} input(s) again`,
    );
    const plan = JSON.parse(lineage('plan', ckpt, '--json'));
    expect(plan.stateful).toEqual([{ stage: 'dedup', writerId: 'main', offered: newest, kept: recorded[0]!.checkpoints.length, inputsSaved: newest.absorbed, void: false }]);
  });

  it('a checkpoint without stateful stages shows no such section', () => {
    const dir = tempDir();
    const r = spawnSync(process.execPath, [join(ROOT, 'fixtures', 'checkpoints', 'small.js'), join(dir, 'ckpt')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(lineage('stats', join(dir, 'ckpt'))).not.toContain('stateful');
    expect(JSON.parse(lineage('plan', join(dir, 'ckpt'), '--json')).stateful).toEqual([]);
  });
});
