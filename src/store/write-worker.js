// @ts-check
/**
 * @internal
 * The write thread of a writer session (writer-session.ts): it opens the
 * writer's LMDB environment and commits each batch it is sent
 * (batch-commit.js), then answers with the batch's number.
 *
 * Why a thread: lmdb-js spends ~0.5 µs of main-thread time per asynchronous
 * put, which at a million emissions is seconds of the pipeline's own thread.
 * Here the main thread only packs bytes; the puts run beside it, through
 * lmdb-js's own synchronous API inside one transaction per batch.
 *
 * Plain JavaScript (no types to strip) so that it loads the same way from
 * `src` under the test runner and from `dist`.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { open } from 'lmdb';
import { bigMerge, commitRows } from './batch-commit.js';
import { ENV_OPTIONS, WRITE_DB_OPTIONS } from './shard-layout.js';
import { enterGate } from './write-thread-gate.js';

/** The thread's own loop: started only in the worker that write-thread.ts creates. */
function serve() {
  const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
  const { path, mapSize, gate } = /** @type {{ path: string, mapSize: number, gate: Int32Array }} */ (workerData);
  // The session closed while this thread loaded (write-thread-gate.js): it ends here, having touched nothing.
  if (!enterGate(gate)) return;
  // The same options as Shard.
  const env = open({ path, mapSize, ...ENV_OPTIONS });
  /** @type {import('./batch-commit.js').WriteDbs} */
  const dbs = {
    udid: env.openDB('udid', WRITE_DB_OPTIONS.udid),
    meta: env.openDB('meta', WRITE_DB_OPTIONS.meta),
    parents: env.openDB('parents', WRITE_DB_OPTIONS.parents),
    children: env.openDB('children', WRITE_DB_OPTIONS.children),
    sources: env.openDB('sources', WRITE_DB_OPTIONS.sources),
    errors: env.openDB('errors', WRITE_DB_OPTIONS.errors),
    outputs: env.openDB('outputs', WRITE_DB_OPTIONS.outputs),
    info: env.openDB('info', WRITE_DB_OPTIONS.info),
  };
  // Messages in the order they came, not yet handled.
  /** @type {any[]} */
  const queue = [];
  let serving = false;
  const text = (/** @type {unknown} */ err) => /** @type {Error} */ (err).message || String(err);
  // The errno (a number from lmdb-js) tells a full disk from a read-only or forbidden one (write-failure.ts).
  const errCode = (/** @type {unknown} */ err) => {
    const code = /** @type {{ code?: unknown }} */ (err)?.code;
    return typeof code === 'number' || typeof code === 'string' ? code : undefined;
  };
  /**
   * Commits a batch and acknowledges it as soon as its rows are committed;
   * a big merge's parts follow, and between two parts the batches that came
   * meanwhile are committed and acknowledged too, so that the session need
   * not wait for the merge to record on. Their order is kept: a batch with a
   * big merge of its own, and every message after it, waits in the queue.
   * The end of a merge is acknowledged apart (`merged`).
   */
  const handle = (/** @type {any} */ msg) => {
    let parts = null;
    try {
      const done = commitRows(env, dbs, msg);
      parts = done.parts;
      port.postMessage({ seq: msg.seq, block: done.block, merging: parts !== null });
    } catch (err) {
      port.postMessage({ seq: msg.seq, error: text(err), code: errCode(err) });
      return;
    }
    if (!parts) return;
    try {
      for (const _ of parts) {
        for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
          const next = m.message;
          if (queue.length === 0 && next.type === 'batch' && !bigMerge(next)) handle(next);
          else queue.push(next);
        }
      }
      port.postMessage({ merged: msg.seq });
    } catch (err) {
      port.postMessage({ merged: msg.seq, error: text(err), code: errCode(err) });
    }
  };
  port.on('message', (/** @type {any} */ msg) => {
    queue.push(msg);
    if (serving) return;
    serving = true;
    while (queue.length > 0) {
      const next = queue.shift();
      if (next.type === 'close') {
        // Drops this thread's share of the environment; with the port closed the thread ends.
        env.close().finally(() => port.close());
        return;
      }
      handle(next);
    }
    serving = false;
  });
  port.postMessage({ ready: true });
}

if (parentPort && workerData?.lineageWriteThread === true) serve();
