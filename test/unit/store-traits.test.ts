/**
 * One table of every member of LineageStore, and two traits checked from it
 * in both modes: on a closed store every method fails with LINEAGE_CLOSED,
 * and on a read-only store every write method fails with LINEAGE_READ_ONLY
 * (and changes nothing on disk). A member added to the class without a row
 * here fails the first test.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LineageError, LineageStore, childLineage, rootLineage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

const root = rootLineage('part-0000.jsonl');
const child = childLineage('split', [root.udid], 0);
const sink = { closed: false, writeChunk: async () => {} };

type Kind = 'method' | 'getter';
interface Member {
  readonly kind: Kind;
  /** Records or changes the checkpoint: refused on a read-only store. */
  readonly write?: boolean;
  /** Still answers once closed (close itself, and the values read at open). */
  readonly afterClose?: boolean;
  readonly call: (store: LineageStore) => unknown;
}

const members: Record<string, Member> = {
  recordEmission: { kind: 'method', write: true, call: (s) => s.recordEmission({ stage: 'split', parents: [root], children: [child] }) },
  recordFailure: { kind: 'method', write: true, call: (s) => s.recordFailure({ stage: 'split', task: root, error: 'boom' }) },
  updateManifest: { kind: 'method', write: true, call: (s) => s.updateManifest({ pipeline: 'p' } as never) },
  stateCheckpointLog: { kind: 'method', write: true, call: (s) => s.stateCheckpointLog('agg') },
  recordSourceFingerprint: { kind: 'method', write: true, call: (s) => s.recordSourceFingerprint('part-0000.jsonl', 'stat:1:2') },
  sourceFingerprint: { kind: 'method', call: (s) => s.sourceFingerprint('part-0000.jsonl') },
  recordedOutputs: { kind: 'method', call: (s) => [...s.recordedOutputs()] },
  isSourceCompleted: { kind: 'method', call: (s) => s.isSourceCompleted('part-0000.jsonl') },
  consumedInRun: { kind: 'method', call: (s) => s.consumedInRun(root) },
  countTasks: { kind: 'method', call: (s) => s.countTasks() },
  sourceStates: { kind: 'method', call: (s) => s.sourceStates() },
  drain: { kind: 'method', call: (s) => s.drain() },
  isCompleted: { kind: 'method', call: (s) => s.isCompleted(root.udid) },
  refreshUnion: { kind: 'method', call: (s) => s.refreshUnion() },
  has: { kind: 'method', call: (s) => s.has(root.udid) },
  get: { kind: 'method', call: (s) => s.get(root.udid) },
  ancestors: { kind: 'method', call: (s) => s.ancestors(child.udid) },
  descendants: { kind: 'method', call: (s) => s.descendants(root.udid) },
  tasks: { kind: 'method', call: (s) => s.tasks() },
  sources: { kind: 'method', call: (s) => s.sources() },
  writeTasksNdjson: { kind: 'method', call: (s) => s.writeTasksNdjson(sink, 10) },
  stateCheckpoints: { kind: 'method', call: (s) => s.stateCheckpoints() },
  flush: { kind: 'method', call: (s) => s.flush() },
  onWriteFailure: { kind: 'method', call: (s) => s.onWriteFailure(() => {}) },
  close: { kind: 'method', afterClose: true, call: (s) => s.close() },
  readOnly: { kind: 'getter', afterClose: true, call: (s) => s.readOnly },
  mode: { kind: 'getter', afterClose: true, call: (s) => s.mode },
  manifest: { kind: 'getter', afterClose: true, call: (s) => s.manifest },
  run: { kind: 'getter', afterClose: true, call: (s) => s.run },
  needsDrain: { kind: 'getter', afterClose: true, call: (s) => s.needsDrain },
  emissionCount: { kind: 'getter', afterClose: true, call: (s) => s.emissionCount },
};

/** Calls a member and runs what it returns: the first step of a generator, the settling of a promise. */
async function outcome(member: Member, store: LineageStore): Promise<{ ok: true } | { ok: false; error: unknown }> {
  try {
    const value = member.call(store);
    if (value instanceof Promise) await value;
    else if (isIterator(value)) value.next();
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  }
}

function isIterator(value: unknown): value is Iterator<unknown> {
  return value !== null && typeof value === 'object' && Symbol.iterator in value && typeof (value as { next?: unknown }).next === 'function';
}

function codeOf(result: { ok: true } | { ok: false; error: unknown }): string {
  if (result.ok) return 'ok';
  return result.error instanceof LineageError ? result.error.code : `not a LineageError: ${String(result.error)}`;
}

/** A checkpoint with one recorded emission, in the given mode. */
async function checkpoint(mode: 'dag' | 'sources'): Promise<string> {
  const dir = tempDir(`traits-${mode}-`);
  const store = await LineageStore.open(dir, { mode });
  store.recordEmission({ stage: 'split', parents: [root], children: [child] });
  await store.close();
  return dir;
}

const publicMembers = (): string[] =>
  Object.getOwnPropertyNames(LineageStore.prototype)
    .filter((name) => name !== 'constructor')
    .filter((name) => {
      const d = Object.getOwnPropertyDescriptor(LineageStore.prototype, name)!;
      return d.get !== undefined || typeof d.value === 'function';
    });

describe('LineageStore traits, from one table', () => {
  it('the table names every member of the class, each with its kind', () => {
    const privateOnes = ['known', 'assertOpen', 'writable'];
    const declared = publicMembers().filter((n) => !privateOnes.includes(n));
    expect(Object.keys(members).sort()).toEqual(declared.sort());
    for (const name of declared) {
      const d = Object.getOwnPropertyDescriptor(LineageStore.prototype, name)!;
      expect(`${name}: ${d.get ? 'getter' : 'method'}`).toBe(`${name}: ${members[name]!.kind}`);
    }
  });

  for (const mode of ['dag', 'sources'] as const) {
    for (const readOnly of [false, true]) {
      it(`on a closed ${readOnly ? 'read-only' : 'writable'} ${mode} store, every method fails with LINEAGE_CLOSED`, async () => {
        const dir = await checkpoint(mode);
        const codes: Record<string, string> = {};
        const want: Record<string, string> = {};
        for (const [name, member] of Object.entries(members)) {
          const store = await LineageStore.open(dir, { readOnly });
          await store.close();
          codes[name] = codeOf(await outcome(member, store));
          want[name] = member.afterClose ? 'ok' : ErrorCodes.CLOSED;
        }
        expect(codes).toEqual(want);
      });
    }

    it(`on a read-only ${mode} store, every write method fails with LINEAGE_READ_ONLY and the rest answer or refuse as in a writable one`, async () => {
      const dir = await checkpoint(mode);
      const before = await snapshotOf(dir);
      const codes: Record<string, string> = {};
      const want: Record<string, string> = {};
      for (const [name, member] of Object.entries(members)) {
        if (!member.write) continue;
        const store = await LineageStore.open(dir, { readOnly: true });
        const result = await outcome(member, store);
        codes[name] = codeOf(result);
        want[name] = ErrorCodes.READ_ONLY;
        if (!result.ok) expect((result.error as Error).message).toContain(dir);
        await store.close();
      }
      expect(codes).toEqual(want);
      expect(await snapshotOf(dir)).toEqual(before);
    });
  }
});

/** What a reader sees of a checkpoint: its manifest and every task. */
async function snapshotOf(dir: string): Promise<unknown> {
  const store = await LineageStore.open(dir, { readOnly: true });
  try {
    return { manifest: store.manifest, tasks: [...store.tasks()].map((t) => JSON.stringify(t)).sort(), sources: [...store.sourceStates()] };
  } finally {
    await store.close();
  }
}
