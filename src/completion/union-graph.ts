/**
 * @internal
 * The union of a checkpoint's shards as verify reads it: every task under one
 * dense index, the distinct edges between them, and the primary state the
 * batch completion pass needs, all from the rows of one set of snapshots.
 */
import { completeTable } from '../store/batch-completion.js';
import { FLAG_TERMINAL, OUTCOME_FAILED as FAILED } from '../store/task-record.js';
import { UdidIndex } from '../store/udid-index.js';

/** Tasks of all shards under one dense index, and the distinct edges between them. */
export class UnionGraph {
  readonly index = new UdidIndex();
  private readonly udids: Buffer[] = [];
  private recordedFlags = new Uint8Array(1 << 10);
  /** Per task over the union: any shard's terminal flag, and its outcome (emitted or filtered outranks failed, as in task-table.ts). */
  private terminalFlags: Uint8Array<ArrayBuffer> = new Uint8Array(1 << 10);
  private outcomes: Uint8Array<ArrayBuffer> = new Uint8Array(1 << 10);
  private readonly edgeKeys = new Set<number | string>();
  private readonly childList: number[] = [];
  private readonly parentList: number[] = [];

  get size(): number {
    return this.udids.length;
  }

  get recorded(): Uint8Array {
    return this.recordedFlags;
  }

  get edges(): { child: readonly number[]; parent: readonly number[] } {
    return { child: this.childList, parent: this.parentList };
  }

  udid(g: number): string {
    return this.udids[g]!.toString('hex');
  }

  sameUdid(g: number, bytes: Buffer): boolean {
    const own = this.udids[g]!;
    for (let b = 0; b < 16; b++) if (own[b] !== bytes[b]) return false;
    return bytes.length === 16;
  }

  /** The global index of a UDID, added when new. */
  add(udid: Buffer): number {
    const known = this.index.get(udid);
    if (known !== 0) return known - 1;
    const copy = Buffer.from(udid);
    this.udids.push(copy);
    this.index.add(copy, this.udids.length);
    if (this.udids.length > this.recordedFlags.length) {
      this.recordedFlags = grown(this.recordedFlags);
      this.terminalFlags = grown(this.terminalFlags);
      this.outcomes = grown(this.outcomes);
    }
    return this.udids.length - 1;
  }

  markRecorded(g: number): void {
    this.recordedFlags[g] = 1;
  }

  /** Adds what one shard's record says about task g to the union's primary state. */
  noteRecord(g: number, flags: number, outcome: number): void {
    if ((flags & FLAG_TERMINAL) !== 0) this.terminalFlags[g] = 1;
    if (outcome !== 0 && (this.outcomes[g] === 0 || this.outcomes[g] === FAILED)) this.outcomes[g] = outcome;
  }

  /** The batch completion pass (batch-completion.ts) over exactly the rows read: the same snapshots as every other check. */
  batchCompletion(): Uint8Array {
    const size = this.size;
    const parentStart = new Uint32Array(size + 1);
    const childCount = new Uint32Array(size);
    for (let e = 0; e < this.childList.length; e++) {
      parentStart[this.childList[e]! + 1]!++;
      childCount[this.parentList[e]!]!++;
    }
    for (let g = 0; g < size; g++) parentStart[g + 1]! += parentStart[g]!;
    const parents = new Uint32Array(this.childList.length);
    const fill = parentStart.slice(0, size);
    for (let e = 0; e < this.childList.length; e++) parents[fill[this.childList[e]!]!++] = this.parentList[e]!;
    return completeTable({
      size,
      terminal: this.terminalFlags.subarray(0, size),
      outcome: this.outcomes.subarray(0, size),
      parentStart,
      parents,
      childCount,
    });
  }

  addEdge(parent: number, child: number, dedupe: boolean): void {
    if (dedupe) {
      const key = parent < 2 ** 26 && child < 2 ** 26 ? parent * 2 ** 26 + child : `${parent}:${child}`;
      if (this.edgeKeys.has(key)) return;
      this.edgeKeys.add(key);
    }
    this.parentList.push(parent);
    this.childList.push(child);
  }
}

function grown(a: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(a.length * 2);
  b.set(a);
  return b;
}
