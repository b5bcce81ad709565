// When a writer session starts its write thread (src/store/write-thread.ts):
// a small session commits every batch on the calling thread and never starts
// one, not even when its last batches, sent as it closes, pass the threshold;
// a big one gets its thread, which is closed with the session; a thread still
// loading when the session closes is given up, not waited for, and never
// opens the environment. Threads are seen through Node's own `worker_threads`
// diagnostics channel, which names every thread the process starts.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LineageStore, childLineage, rootLineage } from '../../src/index.js';
import { THREAD_AFTER_ROWS } from '../../src/store/write-thread.js';
import { enterGate, giveUpGate, newGate } from '../../src/store/write-thread-gate.js';
import { lineage, ensureBuilt } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** What a thread the process started did: the messages it posted, and its exit code once it ended. */
interface Seen {
  readonly worker: Worker;
  messages: number;
  exit: number | null;
}

let started: Seen[] = [];
const onThread = (message: unknown) => {
  const seen: Seen = { worker: (message as { worker: Worker }).worker, messages: 0, exit: null };
  seen.worker.on('message', () => seen.messages++);
  seen.worker.once('exit', (code) => (seen.exit = code));
  started.push(seen);
};

beforeEach(() => {
  started = [];
  subscribe('worker_threads', onThread);
});

afterEach(() => {
  unsubscribe('worker_threads', onThread);
});

/** Rows a source of `record` puts in a batch: the source key, four meta rows and three edges of two rows each. */
const ROWS_PER_SOURCE = 11;

/** Sources p<first>..: each split into 3; `turns`: give the event loop a turn every 256 sources, so paced batches go out as in a pipeline. */
async function record(store: LineageStore, first: number, count: number, turns: boolean): Promise<void> {
  for (let s = first; s < first + count; s++) {
    const root = rootLineage(`p${s}`);
    store.recordEmission({ stage: 'split', parents: [root], children: [0, 1, 2].map((j) => childLineage('split', [root.udid], j)) });
    if (turns && (s & 255) === 255) await new Promise((r) => setImmediate(r));
  }
}

/** Every task of sources p0..p(count - 1) is in the checkpoint, and verify finds nothing wrong. */
async function expectRecorded(dir: string, count: number): Promise<void> {
  const reader = await LineageStore.open(dir, { readOnly: true });
  try {
    expect(reader.shards[0]!.taskCount()).toBe(count * 4);
    for (const s of [0, count >> 1, count - 1]) {
      const root = rootLineage(`p${s}`);
      expect(reader.has(root.udid)).toBe(true);
      expect(reader.has(childLineage('split', [root.udid], 2).udid)).toBe(true);
    }
  } finally {
    await reader.close();
  }
  ensureBuilt();
  expect(lineage(['verify', dir])).toMatchObject({ code: 0 });
}

const until = async (what: () => boolean, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return what();
};

describe('the write thread starts only for sessions big enough to need it', () => {
  it('a small session commits on the calling thread: flush makes it durable, and no thread is started', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    const sources = Math.floor(THREAD_AFTER_ROWS / ROWS_PER_SOURCE / 3);
    await record(store, 0, sources, true);
    await store.flush();
    const other = await LineageStore.open(dir, { readOnly: true });
    expect(other.shards[0]!.taskCount()).toBe(sources * 4);
    await other.close();
    await store.close();
    expect(started).toHaveLength(0);
    await expectRecorded(dir, sources);
  });

  it('batches sent as the session closes never start it, however many rows they hold', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    // All in one turn: the first batch goes out with close, well past the threshold.
    const sources = Math.ceil((THREAD_AFTER_ROWS * 1.5) / ROWS_PER_SOURCE);
    await record(store, 0, sources, false);
    await store.close();
    expect(started).toHaveLength(0);
    await expectRecorded(dir, sources);
  });

  it('a big session gets its thread, which commits batches and has ended when close resolves', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    const past = Math.ceil((THREAD_AFTER_ROWS * 1.2) / ROWS_PER_SOURCE);
    await record(store, 0, past, true);
    // The flush's batch passes the threshold and starts the thread (a flush is not a close).
    await store.flush();
    expect(started).toHaveLength(1);
    // Recording goes on until the thread is ready and has acknowledged batches of its own.
    let sources = past;
    const thread = started[0]!;
    for (let deadline = Date.now() + 30_000; thread.messages < 3 && Date.now() < deadline; sources += 2048) {
      await record(store, sources, 2048, true);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(thread.messages).toBeGreaterThanOrEqual(3);
    await store.close();
    expect(thread.exit).toBe(0);
    expect(started).toHaveLength(1);
    await expectRecorded(dir, sources);
  });

  it('a thread still loading when the session closes is given up: close does not wait for it, and it ends without a word', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    // Paced batches stay just under the threshold; the last sources, recorded in the same turn as the flush, pass it.
    const under = Math.floor((THREAD_AFTER_ROWS - 1) / ROWS_PER_SOURCE);
    await record(store, 0, under, true);
    expect(started).toHaveLength(0);
    const sources = under + 10;
    await record(store, under, 10, false);
    // The flush starts the thread; close, called in the same turn, finds it still loading.
    const flushed = store.flush();
    expect(started).toHaveLength(1);
    await Promise.all([flushed, store.close()]);
    const thread = started[0]!;
    expect(await until(() => thread.exit !== null)).toBe(true);
    expect(thread.exit).toBe(0);
    // It never said it was ready: it never opened the environment.
    expect(thread.messages).toBe(0);
    await expectRecorded(dir, sources);
  });
});

describe('the gate of a loading write thread', () => {
  it('lets exactly one side through: the thread opens, or the session gives it up', () => {
    const opened = newGate();
    expect(enterGate(opened)).toBe(true);
    expect(giveUpGate(opened)).toBe(false);
    expect(enterGate(opened)).toBe(false);
    const givenUp = newGate();
    expect(giveUpGate(givenUp)).toBe(true);
    expect(enterGate(givenUp)).toBe(false);
    expect(giveUpGate(givenUp)).toBe(false);
    expect(newGate().buffer).toBeInstanceOf(SharedArrayBuffer);
  });
});
