/**
 * @internal
 * UDID → task id, in memory, for the writer's session. An open-addressing
 * table over the UDID's four 32-bit words (they are SHA-256 output, so the
 * first word is already a good hash). 20-40 bytes a task (load 3/8-3/4)
 * against ~100 for a Map keyed by hex strings, and no string hashing.
 */
export class UdidIndex {
  private words: Int32Array;
  private ids: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(capacity = 1 << 16) {
    this.words = new Int32Array(capacity * 4);
    this.ids = new Uint32Array(capacity);
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
    const words = this.words;
    for (let slot = a & this.mask; ; slot = (slot + 1) & this.mask) {
      const id = this.ids[slot]!;
      if (id === 0) return 0;
      const w = slot * 4;
      if (words[w] === a && words[w + 1] === b && words[w + 2] === c && words[w + 3] === d) return id;
    }
  }

  /** Stores `id` (> 0) for a UDID not yet in the index. */
  add(key: Buffer, id: number): void {
    this.addWords(key.readInt32LE(0), key.readInt32LE(4), key.readInt32LE(8), key.readInt32LE(12), id);
  }

  addWords(a: number, b: number, c: number, d: number, id: number): void {
    if ((this.count + 1) * 4 > this.ids.length * 3) this.grow();
    this.insert(a, b, c, d, id);
    this.count++;
  }

  private insert(a: number, b: number, c: number, d: number, id: number): void {
    let slot = a & this.mask;
    while (this.ids[slot] !== 0) slot = (slot + 1) & this.mask;
    const w = slot * 4;
    this.words[w] = a;
    this.words[w + 1] = b;
    this.words[w + 2] = c;
    this.words[w + 3] = d;
    this.ids[slot] = id;
  }

  private grow(): void {
    const { words, ids } = this;
    this.words = new Int32Array(words.length * 2);
    this.ids = new Uint32Array(ids.length * 2);
    this.mask = this.ids.length - 1;
    for (let slot = 0; slot < ids.length; slot++) {
      const id = ids[slot]!;
      if (id !== 0) this.insert(words[slot * 4]!, words[slot * 4 + 1]!, words[slot * 4 + 2]!, words[slot * 4 + 3]!, id);
    }
  }
}
