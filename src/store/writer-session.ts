/**
 * @internal
 * The write path of one shard: assigns ids, issues grouped LMDB writes and
 * keeps, for the tasks it touches, the small state that incremental
 * completion needs (DESIGN.md §4): outcome, edge presence, completed, and a
 * count of incomplete children. ~14 bytes a task plus an index entry.
 *
 * Writes are lmdb-js async puts: every put issued in one event turn lands in
 * one transaction, and lmdb-js merges turns while its write thread is busy, so
 * commits come in large groups without a timer. One recordEmission call is
 * synchronous, so it never straddles two transactions: any committed prefix
 * is a consistent checkpoint.
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { isUdid } from '../identity/udid.js';
import { FLAG_TERMINAL, OUTCOME_EMITTED, OUTCOME_FAILED, OUTCOME_FILTERED, type Shard } from './shard.js';
import type { EmissionRecord, FailureRecord, TaskRef } from './types.js';
import { UdidIndex } from './udid-index.js';

// Bits of the per-task state byte.
const OUTCOME_MASK = 0b11;
const HAS_PARENTS = 1 << 2;
const HAS_CHILDREN = 1 << 3;
const COMPLETED = 1 << 4;
const TERMINAL = 1 << 5;
/** The task's state is in memory (created this session, or loaded from disk). */
const LOADED = 1 << 6;

/** Puts per backpressure group: ~10k emissions, a few MB of queued instructions. */
const DRAIN_GROUP = 100_000;

/** Worst-case map bytes a queued put may need (page copies included). */
const QUEUED_BYTES_PER_PUT = 64;

const TYPE_BYTES = [0, 1, 2, 3].map((t) => Buffer.from([t]));

/** Parents beyond which an emission's duplicate checks use sets instead of scanning arrays. */
const WIDE = 16;
const NO_IDS: ReadonlySet<number> = new Set();

export class WriterSession {
  private readonly index = new UdidIndex();
  /** Scratch for lookups; never handed to lmdb-js. */
  private readonly scratch = Buffer.alloc(16);
  private state = new Uint8Array(1 << 16);
  private pending = new Uint32Array(1 << 16);
  private firstParent = new Uint32Array(1 << 16);
  private root = new Uint32Array(1 << 16);
  private readonly extraParents = new Map<number, number[]>();
  private nextId = 0;
  private blockSize = 1 << 14;
  private endId = 0;
  private readonly runValue: Buffer;
  private readonly outcomeValues = new Map<number, Buffer>();
  private slab = Buffer.allocUnsafe(0);
  private slabAt = 0;
  private lastWrite: Promise<unknown> = Promise.resolve();
  // Backpressure: the caller may run at most two groups of puts ahead of the commits.
  private putsInGroup = 0;
  private putCount = 0;
  private committedPuts = 0;
  private groupGate: Promise<unknown> | null = null;
  private olderGate: Promise<unknown> | null = null;
  private olderGateDone = true;
  private writeError: unknown = null;
  /** Emissions recorded in this session. */
  emissions = 0;

  /** False when the shard held no task at open: no lookup can hit, so none is made. */
  private readonly diskMayHave: boolean;

  constructor(
    private readonly shard: Shard,
    readonly run: number,
  ) {
    this.diskMayHave = (shard.udid.getStats() as { entryCount: number }).entryCount > 0;
    this.runValue = Buffer.alloc(4);
    this.runValue.writeUInt32LE(run);
  }

  recordEmission(rec: EmissionRecord): void {
    if ((this.emissions & 1023) === 0) this.checkRoom();
    const { parents, children } = rec;
    if (!Array.isArray(parents) || parents.length === 0) {
      throw new LineageError(
        ErrorCodes.INVALID_ARGUMENT,
        `recordEmission: stage "${rec.stage}" gave no parents; an emission consumes at least one task.`,
      );
    }
    if (!Array.isArray(children)) {
      throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `recordEmission: stage "${rec.stage}": children must be an array.`);
    }
    const stage = this.shard.stageNumber(checkStage(rec.stage));
    // Validate every reference before the first write, so bad input writes nothing.
    const parentUdids: string[] = [];
    for (const p of parents) parentUdids.push(refUdid(p, rec.stage, 'parent'));
    const childUdids: string[] = [];
    for (const c of children) childUdids.push(refUdid(c, rec.stage, 'child'));

    const parentIds: number[] = [];
    // A wide fan-in (a stateful stage's finish names every input) must not be quadratic.
    const distinct = parents.length > WIDE ? new Set<number>() : null;
    for (let i = 0; i < parents.length; i++) {
      const id = this.resolve(parentUdids[i]!, 0, 0, 0, parents[i]!);
      if (distinct ? distinct.has(id) : parentIds.includes(id)) continue;
      distinct?.add(id);
      parentIds.push(id);
    }
    const rootOfChildren = this.root[parentIds[0]!]!;
    const terminal = rec.terminal === true;
    const toComplete: number[] = [];

    for (let i = 0; i < childUdids.length; i++) {
      const cid = this.resolve(childUdids[i]!, stage, rootOfChildren, terminal ? FLAG_TERMINAL : 0, children[i]!);
      const known = this.knownParents(cid, parentIds.length);
      for (const pid of parentIds) {
        if (pid === cid) {
          throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `recordEmission: stage "${rec.stage}" emitted task ${childUdids[i]} as its own child.`);
        }
        if (known === null ? this.hasParent(cid, pid) : known.has(pid)) continue;
        this.addParent(cid, pid);
        this.put(this.shard.parents, cid, this.u32be(pid));
        this.put(this.shard.children, pid, this.u32be(cid));
        this.setFlag(cid, HAS_PARENTS);
        this.setFlag(pid, HAS_CHILDREN);
        if ((this.state[cid]! & COMPLETED) === 0) this.pending[pid]!++;
      }
      if (terminal && (this.state[cid]! & (COMPLETED | TERMINAL)) === 0) {
        this.state[cid]! |= TERMINAL;
        toComplete.push(cid);
      }
    }

    const kind = childUdids.length === 0 ? OUTCOME_FILTERED : OUTCOME_EMITTED;
    for (const pid of parentIds) {
      const s = this.state[pid]!;
      // Completion is monotone: a completed task keeps its outcome.
      if ((s & COMPLETED) !== 0 && (s & OUTCOME_MASK) !== 0) continue;
      if ((s & OUTCOME_MASK) !== kind) {
        this.state[pid] = (s & ~OUTCOME_MASK) | kind;
        this.put(this.shard.outcome, pid, this.outcomeValue(kind, stage));
      }
      if (kind === OUTCOME_FILTERED || this.pending[pid] === 0) toComplete.push(pid);
    }
    for (const id of toComplete) this.complete(id);
    this.emissions++;
  }

  recordFailure(rec: FailureRecord): boolean {
    const stage = this.shard.stageNumber(checkStage(rec.stage));
    const udid = refUdid(rec.task, rec.stage, 'task');
    const id = this.resolve(udid, 0, 0, 0, rec.task);
    if ((this.state[id]! & COMPLETED) !== 0) return false;
    const text = rec.error instanceof Error ? rec.error.message || String(rec.error) : String(rec.error);
    const value = Buffer.alloc(3 + Buffer.byteLength(text));
    value[0] = OUTCOME_FAILED;
    value.writeUInt16LE(stage, 1);
    value.write(text, 3);
    this.state[id] = (this.state[id]! & ~OUTCOME_MASK) | OUTCOME_FAILED;
    this.put(this.shard.outcome, id, value);
    return true;
  }

  /** True when the task is known complete, including writes not yet committed. */
  completedInSession(udid: string): boolean | undefined {
    this.scratch.write(udid, 'hex');
    const id = this.index.get(this.scratch);
    return id === 0 ? undefined : (this.state[id]! & COMPLETED) !== 0;
  }

  /** True when writes run far enough ahead of commits that the caller should `await drain()`. */
  get needsDrain(): boolean {
    return !this.olderGateDone;
  }

  /** Waits until the older of the two outstanding write groups is committed. */
  async drain(): Promise<void> {
    if (this.olderGate) await this.olderGate;
    if (this.writeError) throw this.writeError;
  }

  /** Resolves when every write issued so far is committed (visible to readers). */
  async committed(): Promise<void> {
    await this.lastWrite;
    if (this.writeError) throw this.writeError;
  }

  /**
   * Refuses to write once the map is nearly full. LMDB 0.9 under lmdb-js's
   * async writer does not survive MDB_MAP_FULL (the process crashes), so the
   * limit is enforced here, with room for the writes still queued.
   */
  private checkRoom(): void {
    if (this.writeError) throw this.writeError;
    const stats = this.shard.env.getStats() as { pageSize: number; lastPageNumber: number; mapSize: number };
    const queued = (this.putCount - this.committedPuts) * QUEUED_BYTES_PER_PUT;
    const used = (stats.lastPageNumber + 1) * stats.pageSize + queued;
    const headroom = Math.max(16 * 2 ** 20, stats.mapSize / 8);
    if (used + headroom > stats.mapSize) {
      this.writeError = new LineageError(
        ErrorCodes.MAP_FULL,
        `${this.shard.dir}: the LMDB map (${stats.mapSize} bytes) is nearly full, so recording stopped; what was recorded before is kept. ` +
          'Reopen with a larger mapSize (option or LINEAGE_MAP_SIZE, in bytes) and rerun.',
      );
      throw this.writeError;
    }
  }

  /** BFS upward (DESIGN.md §4): a task completes when its last incomplete child does. */
  private complete(start: number): void {
    const queue = [start];
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i]!;
      // A diamond can queue a task twice; its parents must be released once.
      if ((this.state[id]! & COMPLETED) !== 0) continue;
      this.state[id]! |= COMPLETED;
      this.put(this.shard.completed, id, this.runValue);
      const first = this.firstParent[id]!;
      if (first === 0) continue;
      this.releaseParent(first, queue);
      const extra = this.extraParents.get(id);
      if (extra) for (const p of extra) this.releaseParent(p, queue);
    }
  }

  private releaseParent(pid: number, queue: number[]): void {
    // A parent from an earlier session is loaded now; its count already sees this child complete.
    if ((this.state[pid]! & LOADED) === 0) this.loadById(pid);
    else if (this.pending[pid]! > 0) this.pending[pid]!--;
    const s = this.state[pid]!;
    if (this.pending[pid] === 0 && (s & OUTCOME_MASK) === OUTCOME_EMITTED && (s & COMPLETED) === 0) queue.push(pid);
  }

  /** The id of a task, from this session, from disk, or newly created. */
  private resolve(udid: string, stage: number, root: number, flags: number, ref: TaskRef): number {
    const scratch = this.scratch;
    scratch.write(udid, 'hex');
    const known = this.index.get(scratch);
    if (known !== 0) return known;
    if (this.diskMayHave) {
      const onDisk = this.shard.idOf(scratch);
      if (onDisk !== undefined) return this.load(scratch, onDisk);
    }
    const bytes = this.take(16);
    scratch.copy(bytes);
    const id = this.allocate();
    this.index.add(bytes, id);
    const isRoot = root === 0;
    this.root[id] = isRoot ? id : root;
    this.state[id] = LOADED;
    const meta = this.take(23);
    bytes.copy(meta, 0);
    meta.writeUInt16LE(stage, 16);
    meta.writeUInt32LE(this.root[id]!, 18);
    meta[22] = flags;
    this.put(this.shard.udid, bytes, this.u32le(id));
    this.put(this.shard.meta, id, meta);
    if (isRoot && typeof ref === 'object' && ref.sourceKey) this.put(this.shard.sources, id, ref.sourceKey);
    return id;
  }

  /** Brings a task written by an earlier session into memory. */
  private load(udid: Buffer, id: number): number {
    this.index.add(udid, id);
    return this.loadById(id, false);
  }

  private loadById(id: number, indexIt = true): number {
    this.ensureCapacity(id);
    const meta = this.shard.metaOf(id);
    if (meta && indexIt) this.index.add(meta.udid, id);
    this.root[id] = meta?.root ?? id;
    let s = LOADED;
    const outcome = this.shard.outcomeOf(id);
    if (outcome) s |= outcome.kind & OUTCOME_MASK;
    if (this.shard.completedRun(id) !== undefined) s |= COMPLETED;
    if (meta && meta.flags & FLAG_TERMINAL) s |= TERMINAL;
    const parents = this.shard.parentIds(id);
    if (parents.length > 0) {
      s |= HAS_PARENTS;
      this.firstParent[id] = parents[0]!;
      if (parents.length > 1) this.extraParents.set(id, parents.slice(1));
    }
    let incomplete = 0;
    const children = this.shard.childIds(id);
    if (children.length > 0) s |= HAS_CHILDREN;
    for (const c of children) {
      const done = (this.state[c]! & LOADED) !== 0 ? (this.state[c]! & COMPLETED) !== 0 : this.shard.completedRun(c) !== undefined;
      if (!done) incomplete++;
    }
    this.pending[id] = incomplete;
    this.state[id] = s;
    return id;
  }

  /** For a wide emission: the child's parents so far as a set (empty for a new child); null: use hasParent. */
  private knownParents(cid: number, incoming: number): ReadonlySet<number> | null {
    if (incoming <= WIDE) return null;
    const first = this.firstParent[cid]!;
    if (first === 0) return NO_IDS;
    return new Set([first, ...(this.extraParents.get(cid) ?? [])]);
  }

  private hasParent(cid: number, pid: number): boolean {
    if (this.firstParent[cid] === pid) return true;
    return this.extraParents.get(cid)?.includes(pid) ?? false;
  }

  private addParent(cid: number, pid: number): void {
    if (this.firstParent[cid] === 0) this.firstParent[cid] = pid;
    else {
      const extra = this.extraParents.get(cid);
      if (extra) extra.push(pid);
      else this.extraParents.set(cid, [pid]);
    }
  }

  /** Sets a structural bit and writes the task type when it changes. */
  private setFlag(id: number, bit: number): void {
    const s = this.state[id]!;
    if ((s & bit) !== 0) return;
    this.state[id] = s | bit;
    this.put(this.shard.taskType, id, TYPE_BYTES[typeCode(s | bit)]!);
  }

  private allocate(): number {
    if (this.nextId === this.endId) {
      const block = this.shard.claimIds(this.blockSize);
      this.blockSize = Math.min(this.blockSize * 2, 1 << 22);
      this.nextId = block.start;
      this.endId = block.end;
      this.ensureCapacity(block.end);
    }
    return this.nextId++;
  }

  private ensureCapacity(id: number): void {
    if (id < this.state.length) return;
    let size = this.state.length;
    while (size <= id) size *= 2;
    const grow = <T extends Uint8Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.state = grow(this.state, (n) => new Uint8Array(n));
    this.pending = grow(this.pending, (n) => new Uint32Array(n));
    this.firstParent = grow(this.firstParent, (n) => new Uint32Array(n));
    this.root = grow(this.root, (n) => new Uint32Array(n));
  }

  private outcomeValue(kind: number, stage: number): Buffer {
    const key = kind * 0x10000 + stage;
    let v = this.outcomeValues.get(key);
    if (!v) {
      v = Buffer.alloc(3);
      v[0] = kind;
      v.writeUInt16LE(stage, 1);
      this.outcomeValues.set(key, v);
    }
    return v;
  }

  private closeGroup(p: Promise<unknown>): void {
    this.putsInGroup = 0;
    this.olderGate = this.groupGate;
    this.groupGate = p;
    const gate = this.olderGate;
    if (!gate) return;
    this.olderGateDone = false;
    const done = () => {
      if (this.olderGate === gate) this.olderGateDone = true;
    };
    gate.then(done, done);
  }

  /** Small buffers carved from a slab: lmdb-js keeps a reference until commit, so never reuse. */
  private take(n: number): Buffer {
    if (this.slabAt + n > this.slab.length) {
      this.slab = Buffer.allocUnsafe(1 << 16);
      this.slabAt = 0;
    }
    const b = this.slab.subarray(this.slabAt, this.slabAt + n);
    this.slabAt += n;
    return b;
  }

  private u32be(n: number): Buffer {
    const b = this.take(4);
    b.writeUInt32BE(n);
    return b;
  }

  private u32le(n: number): Buffer {
    const b = this.take(4);
    b.writeUInt32LE(n);
    return b;
  }

  private put<K>(db: { put(key: K, value: never): Promise<boolean> }, key: K, value: unknown): void {
    const p = db.put(key, value as never);
    // lmdb-js returns one promise per transaction: watch each once, not every put.
    this.putCount++;
    if (p !== this.lastWrite) {
      this.lastWrite = p;
      const upto = this.putCount - 1;
      p.then(
        () => {
          if (upto > this.committedPuts) this.committedPuts = upto;
        },
        (err: unknown) => {
          this.writeError ??= writeFailure(this.shard.dir, err);
        },
      );
    }
    if (++this.putsInGroup >= DRAIN_GROUP) this.closeGroup(p);
  }
}

function writeFailure(dir: string, err: unknown): LineageError {
  const text = err instanceof Error ? err.message : String(err);
  if (/MDB_MAP_FULL/.test(text)) {
    return new LineageError(
      ErrorCodes.MAP_FULL,
      `${dir}: the LMDB map is full; the last group of writes was not committed (a rerun redoes it). ` +
        'Reopen with a larger mapSize (option or LINEAGE_MAP_SIZE, in bytes).',
      { cause: err },
    );
  }
  return new LineageError(ErrorCodes.WRITE_FAILED, `${dir}: a write to the checkpoint failed: ${text}. Check free disk space and permissions.`, { cause: err });
}

export function typeCode(s: number): number {
  return ((s & HAS_PARENTS) !== 0 ? 2 : 0) | ((s & HAS_CHILDREN) !== 0 ? 1 : 0);
}

function checkStage(stage: unknown): string {
  if (typeof stage !== 'string' || stage.length === 0) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `recordEmission: the stage id must be a non-empty string, got ${JSON.stringify(stage)}.`,
    );
  }
  return stage;
}

function refUdid(ref: TaskRef, stage: string, role: string): string {
  const udid = typeof ref === 'string' ? ref : ref?.udid;
  if (!isUdid(udid)) {
    throw new LineageError(
      ErrorCodes.INVALID_UDID,
      `stage "${stage}": ${role} ${JSON.stringify(udid)} is not a UDID (32 lowercase hex characters). ` +
        'Use the udid from rootLineage/childLineage/assignChildLineage.',
    );
  }
  return udid;
}
