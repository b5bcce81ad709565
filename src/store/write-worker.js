// @ts-check
/**
 * @internal
 * The write thread of a writer session (writer-session.ts). It opens the
 * writer's LMDB environment and applies each batch (write-batch.ts) in one
 * synchronous, durable transaction, then answers with the batch's number.
 * `applyBatch` is also what the main thread runs for the batches it commits
 * itself, before the thread is up.
 *
 * Why a thread: lmdb-js spends ~0.5 µs of main-thread time per asynchronous
 * put, which at a million emissions is seconds of the pipeline's own thread.
 * Here the main thread only packs bytes; the puts run beside it.
 *
 * Plain JavaScript (no types to strip) so that it loads the same way from
 * `src` under the test runner and from `dist`.
 */
import { hostname } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { open } from 'lmdb';

/**
 * @typedef {'udid' | 'meta' | 'parents' | 'children' | 'sources'} Section
 * @typedef {{ buffers: Record<Section, ArrayBuffer>, lengths: Record<Section, number>, indexed: readonly number[], claim: number }} Batch
 * @typedef {{ start: number, end: number }} IdBlock
 * @typedef {{ putSync(key: any, value: any, options?: object): unknown, get(key: any): any, getKeys(options: object): Iterable<any> }} Db
 * @typedef {Record<Section | 'info', Db>} WriteDbs
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

/** Below 2^21 records a batch's UDID rows sort as float64 numbers (key prefix × 2^21 + index). */
const INDEX_BITS = 2 ** 21;

/** The fixed size of a `meta` row (shard.ts META_SIZE); longer rows carry an error text. */
const META_SIZE = 30;

// Reused for every put: a synchronous put copies its key and value before it returns,
// and a view per row (Buffer#subarray) costs more than the put's own JavaScript.
const key16 = Buffer.allocUnsafeSlow(16);
const value4 = Buffer.allocUnsafeSlow(4);
const row = Buffer.allocUnsafeSlow(META_SIZE);

/**
 * The `udid` rows in key order: random keys inserted in order touch each
 * B-tree page once per batch instead of once per row.
 * @param {Buffer} buf
 * @param {number} n
 * @returns {ArrayLike<number>}
 */
function udidOrder(buf, n) {
  if (n >= INDEX_BITS) {
    const order = Array.from({ length: n }, (_, i) => i);
    return order.sort((a, b) => Buffer.compare(buf.subarray(a * 20, a * 20 + 16), buf.subarray(b * 20, b * 20 + 16)));
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = buf.readUInt32BE(i * 20) * INDEX_BITS + i;
  keys.sort();
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = /** @type {number} */ (keys[i]) % INDEX_BITS;
  // Keys that share their first four bytes are in input order: sort each such run by the whole key.
  for (let i = 1; i < n; i++) {
    if (Math.floor(/** @type {number} */ (keys[i]) / INDEX_BITS) !== Math.floor(/** @type {number} */ (keys[i - 1]) / INDEX_BITS)) continue;
    for (let j = i; j > 0 && Math.floor(/** @type {number} */ (keys[j]) / INDEX_BITS) === Math.floor(/** @type {number} */ (keys[j - 1]) / INDEX_BITS); j--) {
      const x = /** @type {number} */ (order[j - 1]) * 20;
      const y = /** @type {number} */ (order[j]) * 20;
      if (Buffer.compare(buf.subarray(x, x + 16), buf.subarray(y, y + 16)) <= 0) break;
      const t = /** @type {number} */ (order[j]);
      order[j] = /** @type {number} */ (order[j - 1]);
      order[j - 1] = t;
    }
  }
  return order;
}

/**
 * Copies `n` bytes from `from[at..]` into `to[0..]`: a loop the JIT keeps
 * inline, cheaper than Buffer#copy for a few bytes.
 * @param {Buffer} from @param {number} at @param {Buffer} to @param {number} n
 */
function copyInto(from, at, to, n) {
  for (let i = 0; i < n; i++) to[i] = /** @type {number} */ (from[at + i]);
}

/**
 * Puts every row of `batch` into `dbs` (the shard's sub-DBs) and claims the
 * id block it asks for (returned); the caller holds the write transaction.
 * @param {WriteDbs} dbs @param {Batch} batch @returns {IdBlock | null}
 */
export function applyBatch(dbs, batch) {
  const view = (/** @type {Section} */ name) => Buffer.from(batch.buffers[name], 0, batch.lengths[name]);
  const udid = view('udid');
  const order = udidOrder(udid, udid.length / 20);
  // Sorted keys into an empty index append: no page splits, full pages.
  let empty = order.length > 0;
  for (const _ of dbs.udid.getKeys({ limit: 1 })) empty = false;
  const options = empty ? { append: true } : undefined;
  for (let k = 0; k < order.length; k++) {
    const at = /** @type {number} */ (order[k]) * 20;
    copyInto(udid, at, key16, 16);
    copyInto(udid, at + 16, value4, 4);
    if (!dbs.udid.putSync(key16, value4, options)) throw new Error(`the udid index refused the row of task ${value4.readUInt32LE(0)}`);
  }
  if (batch.indexed.length > 0) {
    const listed = dbs.info.get(UNINDEXED_KEY);
    const left = (Array.isArray(listed) ? listed : []).filter((b) => !batch.indexed.includes(b.start));
    dbs.info.putSync(UNINDEXED_KEY, left);
  }
  const meta = view('meta');
  for (let at = 0; at < meta.length; ) {
    const size = meta.readUInt16LE(at + 4);
    const id = meta.readUInt32LE(at);
    if (size === row.length) {
      copyInto(meta, at + 6, row, size);
      dbs.meta.putSync(id, row);
    } else dbs.meta.putSync(id, meta.subarray(at + 6, at + 6 + size));
    at += 6 + size;
  }
  for (const name of /** @type {const} */ (['parents', 'children'])) {
    const rows = view(name);
    const db = dbs[name];
    for (let at = 0; at < rows.length; at += 8) {
      copyInto(rows, at + 4, value4, 4);
      db.putSync(rows.readUInt32LE(at), value4);
    }
  }
  const sources = view('sources');
  for (let at = 0; at < sources.length; ) {
    const size = sources.readUInt16LE(at + 4);
    dbs.sources.putSync(sources.readUInt32LE(at), sources.toString('utf8', at + 6, at + 6 + size));
    at += 6 + size;
  }
  return batch.claim > 0 ? claimIdBlock(dbs.info, batch.claim) : null;
}

/** The thread's own loop: started only in the worker that write-thread.ts creates. */
function serve() {
  const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
  const { path, mapSize } = /** @type {{ path: string, mapSize: number }} */ (workerData);
  // The same options as Shard.
  const env = open({ path, maxDbs: 16, mapSize });
  /** @type {WriteDbs} */
  const dbs = {
    udid: env.openDB('udid', WRITE_DB_OPTIONS.udid),
    meta: env.openDB('meta', WRITE_DB_OPTIONS.meta),
    parents: env.openDB('parents', WRITE_DB_OPTIONS.parents),
    children: env.openDB('children', WRITE_DB_OPTIONS.children),
    sources: env.openDB('sources', WRITE_DB_OPTIONS.sources),
    info: env.openDB('info', WRITE_DB_OPTIONS.info),
  };
  port.on('message', (/** @type {any} */ msg) => {
    if (msg.type === 'close') {
      // Drops this thread's share of the environment; with the port closed the thread ends.
      env.close().finally(() => port.close());
      return;
    }
    try {
      const block = env.transactionSync(() => applyBatch(dbs, msg));
      port.postMessage({ seq: msg.seq, block });
    } catch (err) {
      const error = /** @type {Error} */ (err);
      port.postMessage({ seq: msg.seq, error: error.message || String(error) });
    }
  });
  port.postMessage({ ready: true });
}

if (parentPort && workerData?.lineageWriteThread === true) serve();
