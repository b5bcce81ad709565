/**
 * @internal
 * Every task of a single-shard checkpoint as NDJSON (`lineage inspect
 * --format ndjson`), built as bytes from the shard's pages (lmdb-pages.ts):
 * the same lines as the CLI's TaskLineWriter over `store.tasks()` (tested byte for byte), ~3× faster,
 * and without mapping the file, so the file's pages do not count in RSS.
 *
 * Two passes: the first reads every task's UDID into a table by id (16 bytes
 * a task) and the source keys; the second walks `meta`, `parents` and
 * `children` in id order together and writes each line into 1 MB chunks.
 */
import { LmdbPageError, LeafCursor, EdgeCursor, PageFile } from './lmdb-pages.js';
import { META_SIZE, type Shard } from './shard.js';
import {
  FLAG_HAS_CHILDREN,
  FLAG_HAS_PARENTS,
  FLAG_TERMINAL,
  OUTCOME_FAILED,
  OUTCOME_FILTERED,
  OUTCOME_KINDS,
  UDID_SIZE,
  completedRunOf,
  flagsOf,
  isPresent,
  outcomeOf,
  outcomeStageOf,
  rootOf,
  stageOf,
  typeOfFlags,
} from './task-record.js';
import { BLOCK_TASKS, blockBody, blockStart } from './meta-blocks.js';

/** Where the NDJSON goes: chunks of whole lines, written in order. */
export interface NdjsonSink {
  /** True once the reader went away (a closed pipe): the scan stops early. */
  readonly closed: boolean;
  writeChunk(chunk: Buffer): Promise<void>;
  /** Called after each chunk with the number of tasks written so far. */
  progress?(written: number): void;
}

const CHUNK = 1 << 20;
/**
 * The four hex digits of each two-byte value, as one little-endian u32 of
 * char codes: a UDID is written as 8 unaligned 4-byte stores (DataView)
 * instead of 32 byte stores, and each is written ~3 times a line.
 */
const HEX4 = new Uint32Array(1 << 16);
for (let v = 0; v < 1 << 16; v++) {
  const digits = v.toString(16).padStart(4, '0');
  HEX4[v] = digits.charCodeAt(0) | (digits.charCodeAt(1) << 8) | (digits.charCodeAt(2) << 16) | (digits.charCodeAt(3) << 24);
}

const bytes = (s: string) => Buffer.from(s, 'utf8');
// A line is built from these pieces (each constant run of text is one piece).
const UDID = bytes('{"udid":"');
const STATUS = Object.fromEntries(
  (['completed', 'filtered', 'failed', 'pending'] as const).map((s) => [s, bytes(`","status":"${s}","stage":`)]),
) as Record<'completed' | 'filtered' | 'failed' | 'pending', Buffer>;
const SOURCE_KEY = bytes(',"sourceKey":');
/** By the meta row's flags byte (type bits and terminal). */
const TYPE = Array.from({ length: 8 }, (_, flags) => bytes(`,"taskType":"${typeOfFlags(flags)}","terminal":${(flags & FLAG_TERMINAL) !== 0},"parents":`));
const CHILDREN = bytes(',"children":');
const NULL = bytes('null');
const OUTCOME_NULL = bytes(',"outcome":null');
const COMPLETED_NULL = bytes(',"completed":null}\n');

/**
 * Writes every task of `shard` as NDJSON; returns how many, or null when the
 * pages cannot be read this way (then nothing was written: scan through lmdb-js).
 */
export async function writeShardNdjson(sink: NdjsonSink, shard: Shard, limit: number): Promise<number | null> {
  let file: PageFile;
  try {
    file = PageFile.open(shard);
  } catch (err) {
    if (err instanceof LmdbPageError) return null;
    throw err;
  }
  try {
    const meta = file.tree('meta');
    const parents = file.tree('parents');
    const children = file.tree('children');
    if (!meta || !parents || !children) return null;

    // Pass 1: UDIDs by id, and source keys (JSON) by root id.
    let udids = Buffer.alloc(16 * BLOCK_TASKS * (meta.entries + 1));
    let known = new Uint8Array(BLOCK_TASKS * (meta.entries + 1));
    for (const c = new LeafCursor(file, meta); c.next(); ) {
      const key = c.intKey;
      const block = shard.checked(() => blockBody(c.value(), key));
      const first = blockStart(key);
      const last = first + block.length / META_SIZE - 1;
      if (last >= known.length) {
        const size = Math.max(known.length * 2, last + 1);
        const moreUdids = Buffer.alloc(size * 16);
        udids.copy(moreUdids);
        udids = moreUdids;
        const moreKnown = new Uint8Array(size);
        moreKnown.set(known);
        known = moreKnown;
      }
      for (let f = 0; f + META_SIZE <= block.length; f += META_SIZE) {
        if (!isPresent(block, f)) continue;
        const id = first + f / META_SIZE;
        for (let i = 0; i < UDID_SIZE; i++) udids[id * UDID_SIZE + i] = block[f + i]!;
        known[id] = 1;
      }
    }
    // By root id (arrays, not maps: looked up for every task).
    const sourceKeys: (Buffer | undefined)[] = [];
    const sources = file.tree('sources');
    if (sources) {
      for (const c = new LeafCursor(file, sources); c.next(); ) {
        const root = c.intKey;
        if (root >= known.length || known[root] === 0) throw shard.damaged(`a source row names task ${root}, which has no record`);
        const key = shard.sourceKeyIn(root, c.value(), udids.subarray(root * 16, root * 16 + 16));
        sourceKeys[root] = bytes(JSON.stringify(key));
      }
    }
    const noSource = Buffer.concat([SOURCE_KEY, NULL]);

    const stageJson: (Buffer | undefined)[] = [];
    const stageJsonOf = (n: number): Buffer => {
      let b = stageJson[n];
      if (!b) {
        const name = shard.stageName(n);
        b = name === null ? NULL : bytes(JSON.stringify(name));
        b = Buffer.concat([b, SOURCE_KEY]);
        stageJson[n] = b;
      }
      return b;
    };
    const completedJson: (Buffer | undefined)[] = [];
    const completedOf = (run: number): Buffer => {
      let b = completedJson[run];
      if (!b) {
        b = bytes(`,"completed":${JSON.stringify({ run, runStartedAt: shard.runStartedAt(run), writerId: shard.writerId })}}\n`);
        completedJson[run] = b;
      }
      return b;
    };
    const outcomeJson = new Map<number, Buffer>();
    /** The outcome of task `id`, whose record is at `row[o..]`. */
    const outcomeJsonOf = (row: Buffer, o: number, id: number): Buffer => {
      const outcome = outcomeOf(row, o);
      const kind = OUTCOME_KINDS[outcome] ?? 'failed';
      const stage = shard.stageName(outcomeStageOf(row, o)) ?? '';
      if (outcome === OUTCOME_FAILED) return bytes(`,"outcome":${JSON.stringify({ kind, stage, error: shard.errorOf(id) ?? '' })}`);
      const key = outcome * 0x10000 + outcomeStageOf(row, o);
      let b = outcomeJson.get(key);
      if (!b) {
        b = bytes(`,"outcome":${JSON.stringify({ kind, stage })}`);
        outcomeJson.set(key, b);
      }
      return b;
    };

    // Pass 2.
    let out = Buffer.allocUnsafe(CHUNK);
    let view = new DataView(out.buffer, out.byteOffset, out.length);
    let at = 0;
    const put = (b: Buffer) => {
      const n = b.length;
      // Why: a loop the JIT keeps inline beats TypedArray#set for pieces this short (docs/performance.md, ndjson-loop).
      if (n < 16) for (let i = 0; i < n; i++) out[at + i] = b[i]!;
      else out.set(b, at);
      at += n;
    };
    const hex = (id: number) => {
      if (id >= known.length || known[id] === 0) throw shard.damaged(`an edge names task ${id}, which has no record`);
      const o = id * 16;
      for (let i = 0; i < 16; i += 2) {
        view.setUint32(at, HEX4[(udids[o + i]! << 8) | udids[o + i + 1]!]!, true);
        at += 4;
      }
    };
    const list = (ids: number[], n: number) => {
      if (n === 0) {
        out[at++] = 0x5b; // [
        out[at++] = 0x5d; // ]
        return;
      }
      out[at++] = 0x5b;
      for (let i = 0; i < n; i++) {
        if (i > 0) out[at++] = 0x2c; // ,
        out[at++] = 0x22; // "
        hex(ids[i]!);
        out[at++] = 0x22;
      }
      out[at++] = 0x5d;
    };
    const pc = new EdgeCursor(file, parents);
    const cc = new EdgeCursor(file, children);
    let pMore = pc.next();
    let cMore = cc.next();
    const ps: number[] = [];
    const cs: number[] = [];
    let n = 0;
    for (const c = new LeafCursor(file, meta); c.next() && n < limit && !sink.closed; ) {
      // The block's records, read in place.
      const row = c.value();
      const first = blockStart(c.intKey);
      for (let o = 0; o + META_SIZE <= row.length && n < limit; o += META_SIZE) {
        if (!isPresent(row, o)) continue;
        const id = first + o / META_SIZE;
        let np = 0;
        while (pMore && pc.key <= id) {
          if (pc.key === id) ps[np++] = pc.value;
          pMore = pc.next();
        }
        let nc = 0;
        while (cMore && cc.key <= id) {
          if (cc.key === id) cs[nc++] = cc.value;
          cMore = cc.next();
        }
        const run = completedRunOf(row, o);
        const kind = outcomeOf(row, o);
        // As statusOf: an outcome byte this version does not know reads as failed (OUTCOME_KINDS).
        const status = kind === OUTCOME_FILTERED ? STATUS.filtered : run !== 0 ? STATUS.completed : kind > OUTCOME_FILTERED ? STATUS.failed : STATUS.pending;
        const stage = stageJsonOf(stageOf(row, o));
        const source = sourceKeys[rootOf(row, o)];
        const flags = flagsOf(row, o);
        // The record's flags say whether the task has edges; rows lost from a damaged edge tree show here.
        if ((np > 0) !== ((flags & FLAG_HAS_PARENTS) !== 0) || (nc > 0) !== ((flags & FLAG_HAS_CHILDREN) !== 0)) {
          throw shard.damaged(`task ${id} has ${np} parent and ${nc} child edges, which its record's flags (${flags}) contradict`);
        }
        const outcome = kind === 0 ? OUTCOME_NULL : outcomeJsonOf(row, o, id);
        const completed = run === 0 ? COMPLETED_NULL : completedOf(run);
        const need = 256 + 35 * (np + nc) + stage.length + (source?.length ?? 0) + outcome.length + completed.length;
        if (at + need > out.length) {
          await sink.writeChunk(out.subarray(0, at));
          out = Buffer.allocUnsafe(Math.max(CHUNK, need));
          view = new DataView(out.buffer, out.byteOffset, out.length);
          at = 0;
          sink.progress?.(n);
        }
        put(UDID);
        hex(id);
        put(status);
        if (source === undefined) {
          put(stage.subarray(0, stage.length - SOURCE_KEY.length));
          put(noSource);
        } else {
          put(stage);
          put(source);
        }
        put(TYPE[flags & 7]!);
        list(ps, np);
        put(CHILDREN);
        list(cs, nc);
        put(outcome);
        put(completed);
        n++;
      }
    }
    if (at > 0) await sink.writeChunk(out.subarray(0, at));
    return n;
  } finally {
    file.close();
  }
}
