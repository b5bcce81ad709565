/**
 * @internal
 * The parents of a writer session's tasks that have more than one (the
 * children of a fan-in), as linked lists in one typed array. A JS array per
 * such task cost ~150 bytes, lived as long as the session and was copied by
 * every scavenge until promoted: W1 has 200,000 of them at S = 100,000.
 *
 * A list is named by its first node; 0 is the empty list.
 */
export class ParentLists {
  /** Node n: a parent id at 2n and the next node at 2n + 1 (0: the end). Node 0 is never used. */
  private nodes = new Uint32Array(1 << 12);
  private used = 1;

  /** The list `head` with `parent` in front; returns its new head. */
  add(head: number, parent: number): number {
    const n = this.used++;
    if (2 * n + 2 > this.nodes.length) {
      const bigger = new Uint32Array(this.nodes.length * 2);
      bigger.set(this.nodes);
      this.nodes = bigger;
    }
    this.nodes[2 * n] = parent;
    this.nodes[2 * n + 1] = head;
    return n;
  }

  /** The list of `parents`, in no particular order. */
  of(parents: readonly number[]): number {
    let head = 0;
    for (const p of parents) head = this.add(head, p);
    return head;
  }

  /** The parent id at node `node`. */
  parent(node: number): number {
    return this.nodes[2 * node]!;
  }

  /** The node after `node`, 0 at the end. */
  next(node: number): number {
    return this.nodes[2 * node + 1]!;
  }

  has(head: number, parent: number): boolean {
    for (let n = head; n !== 0; n = this.nodes[2 * n + 1]!) if (this.nodes[2 * n] === parent) return true;
    return false;
  }

  /** The list's parents, in no particular order. */
  toArray(head: number): number[] {
    const out: number[] = [];
    for (let n = head; n !== 0; n = this.nodes[2 * n + 1]!) out.push(this.nodes[2 * n]!);
    return out;
  }
}
