/**
 * @internal
 * UDID → task id for a writer's session. The session keeps every task's UDID
 * by id anyway (`words`: four 32-bit words per id, see parseUdidWords), so a
 * slot here holds only the UDID's first word and the id (8 bytes): a lookup
 * compares the first word in the slot and the other three in `words`. At the
 * same load that is 2.5× less memory than UdidIndex's 20-byte slots (16 MB
 * instead of 40 for W1's 1.38M tasks), and a probe chain is denser in cache.
 * The first word is SHA-256 output, so it is its own hash.
 *
 * Why a second UDID table beside UdidIndex: its slots depend on the
 * session's `words` by id, which no reader of a shard has; UdidIndex's
 * self-contained 20-byte slots would cost the writer 24 MB more at W1's size.
 */
export class SessionIndex {
  /** Per slot: the UDID's first word, then the id (0: empty). */
  private slots: Int32Array;
  private mask: number;
  private count = 0;

  /**
   * `words`: the session's UDID words by id (id * 4 .. id * 4 + 3). The
   * session replaces it when it grows; an id is added only once its words
   * are written there.
   */
  constructor(
    public words: Int32Array,
    // Why: small, so that it first grows (replacing `slots`) before the lookups are optimised (docs/performance.md, index-small).
    capacity = 1 << 10,
  ) {
    this.slots = new Int32Array(capacity * 2);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The id of the UDID given as its four little-endian 32-bit words, or 0 when absent (ids start at 1). */
  getWords(a: number, b: number, c: number, d: number): number {
    const found = this.probe(a, b, c, d);
    return found > 0 ? found : 0;
  }

  /**
   * getWords for a UDID that is to be added when absent: the id when
   * present, else -1 - slot, where `addAt` puts it (the one probe of the
   * table a new task costs). Grows the table first when full, so the slot
   * holds until the next change to the index.
   */
  find(a: number, b: number, c: number, d: number): number {
    if ((this.count + 1) * 4 > (this.mask + 1) * 3) this.grow();
    return this.probe(a, b, c, d);
  }

  /** Adds `id` (> 0, its words already in `words`) at `found`, what `find` just returned for its UDID. */
  addAt(found: number, a: number, id: number): void {
    const slot = -1 - found;
    this.slots[slot * 2] = a;
    this.slots[slot * 2 + 1] = id | 0;
    this.count++;
  }

  /** The id, or -1 - the empty slot that ends the UDID's probe chain. */
  private probe(a: number, b: number, c: number, d: number): number {
    const s = this.slots;
    const u = this.words;
    for (let slot = a & this.mask; ; slot = (slot + 1) & this.mask) {
      const id = s[slot * 2 + 1]!;
      if (id === 0) return -1 - slot;
      if (s[slot * 2] === a && u[id * 4 + 1] === b && u[id * 4 + 2] === c && u[id * 4 + 3] === d) return id >>> 0;
    }
  }

  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    const s = new Int32Array(capacity * 2);
    const mask = capacity - 1;
    for (let w = 0; w < old.length; w += 2) {
      const id = old[w + 1]!;
      if (id === 0) continue;
      let slot = old[w]! & mask;
      while (s[slot * 2 + 1] !== 0) slot = (slot + 1) & mask;
      s[slot * 2] = old[w]!;
      s[slot * 2 + 1] = id;
    }
    this.slots = s;
    this.mask = mask;
  }
}
