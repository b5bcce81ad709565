/**
 * @internal
 * UDID → task id, in memory, for readers: a shard's unindexed tail
 * (udid-tail.ts), verify, repair, the union of shards' completion. An open-addressing
 * table over the UDID's four 32-bit words (they are SHA-256 output, so the
 * first word is already a good hash). Each slot holds the four words and the
 * id side by side (20 bytes), so a probe reads one cache line, not two:
 * lookups of random UDIDs in a table of millions miss the cache on nearly
 * every probe. 27-53 bytes a task (load 3/8-3/4) against ~100 for a Map
 * keyed by hex strings, and no string hashing.
 *
 * Why two UDID tables: this one holds the words itself, for callers that
 * keep no UDID by id; session/session-index.ts borrows the writer's and is
 * 2.5x smaller (16 MB instead of 40 for W1's 1.38M tasks).
 */
const STRIDE = 5;

export class UdidIndex {
  /** Per slot: words a, b, c, d, then the id (0: empty). */
  private slots: Int32Array;
  private mask: number;
  private count = 0;

  constructor(capacity = 1 << 16) {
    this.slots = new Int32Array(capacity * STRIDE);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The id stored for the 16 UDID bytes in `key`, or 0 when absent (ids start at 1). */
  get(key: Buffer): number {
    return this.getWords(key.readInt32LE(0), key.readInt32LE(4), key.readInt32LE(8), key.readInt32LE(12));
  }

  /** As `get`, for a UDID given as its four little-endian 32-bit words (see parseUdidWords). */
  getWords(a: number, b: number, c: number, d: number): number {
    const s = this.slots;
    for (let slot = a & this.mask; ; slot = (slot + 1) & this.mask) {
      const w = slot * STRIDE;
      const id = s[w + 4]!;
      if (id === 0) return 0;
      if (s[w] === a && s[w + 1] === b && s[w + 2] === c && s[w + 3] === d) return id >>> 0;
    }
  }

  /** Stores `id` (> 0) for a UDID not yet in the index. */
  add(key: Buffer, id: number): void {
    this.addWords(key.readInt32LE(0), key.readInt32LE(4), key.readInt32LE(8), key.readInt32LE(12), id);
  }

  addWords(a: number, b: number, c: number, d: number, id: number): void {
    if ((this.count + 1) * 4 > (this.mask + 1) * 3) this.grow();
    this.insert(this.slots, this.mask, a, b, c, d, id | 0);
    this.count++;
  }

  private insert(s: Int32Array, mask: number, a: number, b: number, c: number, d: number, id: number): void {
    let slot = a & mask;
    while (s[slot * STRIDE + 4] !== 0) slot = (slot + 1) & mask;
    const w = slot * STRIDE;
    s[w] = a;
    s[w + 1] = b;
    s[w + 2] = c;
    s[w + 3] = d;
    s[w + 4] = id;
  }

  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    this.slots = new Int32Array(capacity * STRIDE);
    this.mask = capacity - 1;
    for (let w = 0; w < old.length; w += STRIDE) {
      if (old[w + 4] !== 0) this.insert(this.slots, this.mask, old[w]!, old[w + 1]!, old[w + 2]!, old[w + 3]!, old[w + 4]!);
    }
  }
}
