/**
 * @internal
 * Tasks on a cycle: Kahn's algorithm removes everything reachable from a root
 * without passing a cycle; the same from the leaves upward removes what hangs
 * below one. What is left is on a cycle, or between two.
 */
export function cycleMembers(size: number, child: readonly number[], parent: readonly number[]): number[] {
  const alive = new Uint8Array(size).fill(1);
  const peel = (from: readonly number[], to: readonly number[]) => {
    const degree = new Uint32Array(size);
    const start = new Uint32Array(size + 1);
    for (let e = 0; e < from.length; e++) {
      if (!alive[from[e]!] || !alive[to[e]!]) continue;
      degree[to[e]!]!++;
      start[from[e]! + 1]!++;
    }
    for (let g = 0; g < size; g++) start[g + 1]! += start[g]!;
    const next = new Uint32Array(start[size]!);
    const fill = start.slice(0, size);
    for (let e = 0; e < from.length; e++) {
      if (!alive[from[e]!] || !alive[to[e]!]) continue;
      next[fill[from[e]!]!++] = to[e]!;
    }
    const queue: number[] = [];
    for (let g = 0; g < size; g++) if (alive[g] && degree[g] === 0) queue.push(g);
    for (let q = 0; q < queue.length; q++) {
      const g = queue[q]!;
      alive[g] = 0;
      for (let e = start[g]!; e < start[g + 1]!; e++) if (--degree[next[e]!]! === 0) queue.push(next[e]!);
    }
  };
  peel(parent, child);
  peel(child, parent);
  const left: number[] = [];
  for (let g = 0; g < size; g++) if (alive[g]) left.push(g);
  return left;
}
