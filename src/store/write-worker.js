// @ts-check
/**
 * @internal
 * The write thread of a writer session (writer-session.ts). It opens the
 * writer's LMDB environment and commits each batch (write-batch.ts) in one
 * synchronous, durable transaction (a big `udid` merge follows in parts, see
 * commitBatch), then answers with the batch's number. `commitBatch` is also
 * what the main thread runs for the batches it commits itself, before the
 * thread is up.
 *
 * Why a thread: lmdb-js spends ~0.5 µs of main-thread time per asynchronous
 * put, which at a million emissions is seconds of the pipeline's own thread.
 * Here the main thread only packs bytes; the puts run beside it, a section
 * of rows per native call (scripts/lmdb-put-rows.cpp).
 *
 * Plain JavaScript (no types to strip) so that it loads the same way from
 * `src` under the test runner and from `dist`.
 */
import { hostname } from 'node:os';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { open } from 'lmdb';

/**
 * @typedef {'meta' | 'parents' | 'children' | 'sources'} Section
 * @typedef {{ buffers: Record<Section, ArrayBufferLike>, lengths: Record<Section, number>, merge: readonly number[], indexed: readonly number[], claim: number }} Batch
 * @typedef {{ start: number, end: number }} IdBlock
 * @typedef {{ putSync(key: any, value: any, options?: object): unknown, get(key: any): any, getKeys(options: object): Iterable<any> }} Db
 * @typedef {Record<Section | 'udid' | 'info', Db>} WriteDbs
 */

/**
 * How the sub-DBs a batch writes are opened: Shard and the write thread both
 * open them from here, so the two handles on a file cannot disagree.
 */
export const WRITE_DB_OPTIONS = /** @type {const} */ ({
  udid: { keyEncoding: 'binary', encoding: 'binary' },
  meta: { keyEncoding: 'uint32', encoding: 'binary' },
  parents: { keyEncoding: 'uint32', encoding: 'binary', dupSort: true },
  children: { keyEncoding: 'uint32', encoding: 'binary', dupSort: true },
  sources: { keyEncoding: 'uint32', encoding: 'string' },
  info: { encoding: 'json' },
});

/**
 * How Shard and the write thread open a shard's environment: lmdb-js shares
 * one environment per file, so the first open's options hold for both.
 */
export const ENV_OPTIONS = { maxDbs: 16 };

/** The info key listing the id blocks not yet in the `udid` index (udid-tail.ts). */
export const UNINDEXED_KEY = 'unindexed';

/**
 * Reserves the next `size` task ids of the shard and lists them as not yet in
 * the `udid` index; the caller holds the write transaction. Null when the
 * shard's ids are exhausted. Blocks keep processes that share a shard apart.
 * @param {Db} info @param {number} size @returns {IdBlock | null}
 */
export function claimIdBlock(info, size) {
  const next = info.get('next_id') ?? 1;
  if (next + size > 0xffffffff) return null;
  info.putSync('next_id', next + size);
  const listed = info.get(UNINDEXED_KEY);
  const block = { start: next, end: next + size, host: hostname(), pid: process.pid };
  info.putSync(UNINDEXED_KEY, [...(Array.isArray(listed) ? listed : []), block]);
  return { start: next, end: next + size };
}

/**
 * The native environment behind an lmdb-js database (with the methods of
 * scripts/lmdb-put-rows.cpp) and, for a sub-DB, its dbi number: lmdb-js's
 * typings show neither.
 * @param {object} db
 * @returns {{ env: { putRows(dbi: number, rows: Uint8Array, layout: number, flags: number): number, metaUdidRows(dbi: number, ranges: Uint32Array, out: Uint8Array): number, releaseMap(): number }, db: { dbi: number } }}
 */
function native(db) {
  return /** @type {any} */ (db);
}

/**
 * Puts the rows packed in `rows` into `db` with one native call (env.putRows,
 * scripts/lmdb-put-rows.cpp). Layouts: 0 is 16-byte keys with 4-byte values,
 * in the order given; 1 is u32 key, u16 length, value; 2 is u32 key, 4-byte
 * value; 3 sorts layout-0 rows in place and puts nothing; 4 sorts layout-2
 * rows in place (by key, then value), then puts them. Rows that sort after
 * the sub-DB's last one are appended, decided row by row inside the
 * transaction (another process may write the shard between two). One
 * lmdb-js put per row costs about as much JavaScript as the put costs LMDB.
 * @param {Db} db @param {string} name @param {Buffer} rows @param {0 | 1 | 2 | 3 | 4} layout
 */
function putRows(db, name, rows, layout) {
  if (rows.length === 0) return;
  const handle = native(db);
  try {
    handle.env.putRows(handle.db.dbi, rows, layout, 0);
  } catch (err) {
    throw new Error(`the ${name} sub-DB refused a row: ${/** @type {Error} */ (err).message}`);
  }
}

/**
 * `udid` rows a transaction puts at most. A big merge (udid-tail.ts) is split
 * into transactions by key range: the new keys land all over the index, so
 * one transaction would copy nearly every leaf page of it, and LMDB keeps the
 * memory of a transaction's page copies for reuse until the environment
 * closes. In key order, each part copies its share of the pages.
 */
export const MERGE_ROWS_PER_TXN = 1 << 16;

/**
 * Commits `batch` to the shard open as `env` with sub-DBs `dbs` and returns
 * the id block it claimed, merge parts included (see commitRows).
 * @param {import('lmdb').RootDatabase} env @param {WriteDbs} dbs @param {Batch} batch
 * @returns {IdBlock | null}
 */
export function commitBatch(env, dbs, batch) {
  const { block, parts } = commitRows(env, dbs, batch);
  if (parts) for (const _ of parts);
  return block;
}

/**
 * Commits every row of `batch` but a big merge's `udid` rows in one
 * transaction (that is what keeps a committed prefix consistent) and returns
 * the id block it claimed and, for a big merge, its parts: each step of
 * `parts` commits one. The last part unlists the merge's blocks, so until
 * then readers still find those tasks through their `meta` rows. After each
 * commit the process's mapping of the file is released (env.releaseMap).
 * @param {import('lmdb').RootDatabase} env @param {WriteDbs} dbs @param {Batch} batch
 * @returns {{ block: IdBlock | null, parts: Generator<void> | null }}
 */
function commitRows(env, dbs, batch) {
  const view = (/** @type {Section} */ name) => Buffer.from(batch.buffers[name], 0, batch.lengths[name]);
  const n = mergeRows(batch);
  // The merge's rows (16-byte UDID, id), read from the tasks' meta rows in the first transaction.
  const udid = Buffer.allocUnsafe(n * 20);
  const split = n > MERGE_ROWS_PER_TXN;
  const block = env.transactionSync(() => {
    putRows(dbs.meta, 'meta', view('meta'), 1);
    // Edge rows sorted first (layout 4): a batch's edges come in emission order, ids from all over it.
    putRows(dbs.parents, 'parents', view('parents'), 4);
    putRows(dbs.children, 'children', view('children'), 4);
    const sources = view('sources');
    for (let at = 0; at < sources.length; ) {
      const size = sources.readUInt16LE(at + 4);
      dbs.sources.putSync(sources.readUInt32LE(at), sources.toString('utf8', at + 6, at + 6 + size));
      at += 6 + size;
    }
    if (n > 0) {
      // The merge's rows from the tasks' meta rows, this batch's included, in key order.
      const found = native(dbs.meta).env.metaUdidRows(native(dbs.meta).db.dbi, Uint32Array.from(batch.merge), udid);
      if (found !== n) throw new Error(`the udid merge found ${found} meta rows of the ${n} tasks it was given`);
      putRows(dbs.udid, 'udid', udid, 3);
      if (!split) putRows(dbs.udid, 'udid', udid, 0);
    }
    if (!split) unlist(dbs.info, batch.indexed);
    return batch.claim > 0 ? claimIdBlock(dbs.info, batch.claim) : null;
  });
  releaseMap(env);
  return { block, parts: split ? mergeParts(env, dbs, udid, n, batch.indexed) : null };
}

/**
 * The transactions of a big merge of `n` sorted rows (`udid`), in key order.
 * @param {import('lmdb').RootDatabase} env @param {WriteDbs} dbs @param {Buffer} udid @param {number} n @param {readonly number[]} indexed
 * @returns {Generator<void>}
 */
function* mergeParts(env, dbs, udid, n, indexed) {
  for (let from = 0; from < n; from += MERGE_ROWS_PER_TXN) {
    const to = Math.min(n, from + MERGE_ROWS_PER_TXN);
    env.transactionSync(() => {
      putRows(dbs.udid, 'udid', udid.subarray(from * 20, to * 20), 0);
      if (to === n) unlist(dbs.info, indexed);
    });
    releaseMap(env);
    yield;
  }
}

/** The number of tasks `batch` merges into the index. @param {Batch} batch */
function mergeRows(batch) {
  let n = 0;
  for (let i = 0; i < batch.merge.length; i += 2) n += /** @type {number} */ (batch.merge[i + 1]) - /** @type {number} */ (batch.merge[i]);
  return n;
}

/** True when `batch`'s merge comes in parts. @param {Batch} batch */
function bigMerge(batch) {
  return mergeRows(batch) > MERGE_ROWS_PER_TXN;
}

/** Takes the id blocks starting at `starts` off the info `unindexed` list. @param {Db} info @param {readonly number[]} starts */
function unlist(info, starts) {
  if (starts.length === 0) return;
  const listed = info.get(UNINDEXED_KEY);
  info.putSync(UNINDEXED_KEY, (Array.isArray(listed) ? listed : []).filter((b) => !starts.includes(b.start)));
}

/**
 * Unmaps the pages of the data file that LMDB read through its map while
 * writing (scripts/lmdb-put-rows.cpp): B-tree descents and page copies touch
 * most of the file over a long run, and each page it reads stays in the
 * process's resident set until unmapped. The map is read-only, so they stay
 * in the OS page cache; the next access maps them again.
 * @param {import('lmdb').RootDatabase} env
 */
function releaseMap(env) {
  native(env).env.releaseMap();
}

/** The thread's own loop: started only in the worker that write-thread.ts creates. */
function serve() {
  const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
  const { path, mapSize } = /** @type {{ path: string, mapSize: number }} */ (workerData);
  // The same options as Shard.
  const env = open({ path, mapSize, ...ENV_OPTIONS });
  /** @type {WriteDbs} */
  const dbs = {
    udid: env.openDB('udid', WRITE_DB_OPTIONS.udid),
    meta: env.openDB('meta', WRITE_DB_OPTIONS.meta),
    parents: env.openDB('parents', WRITE_DB_OPTIONS.parents),
    children: env.openDB('children', WRITE_DB_OPTIONS.children),
    sources: env.openDB('sources', WRITE_DB_OPTIONS.sources),
    info: env.openDB('info', WRITE_DB_OPTIONS.info),
  };
  // Messages in the order they came, not yet handled.
  /** @type {any[]} */
  const queue = [];
  let serving = false;
  const text = (/** @type {unknown} */ err) => /** @type {Error} */ (err).message || String(err);
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
      port.postMessage({ seq: msg.seq, error: text(err) });
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
      port.postMessage({ merged: msg.seq, error: text(err) });
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
