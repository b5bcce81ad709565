import { edgeProblem, edgeRange } from './edge-values.js';
import type { Shard } from './shard.js';

/** @internal Sorted child·2^32+parent keys of one edge sub-DB (`children` stores them the other way round). */
export function edgeKeys(shard: Shard, swapped: boolean, transaction?: object): BigUint64Array {
  const db = swapped ? shard.children : shard.parents;
  let out = new BigUint64Array(1024);
  let n = 0;
  for (const { key, value } of db.getRange((transaction === undefined ? {} : { transaction }) as never)) {
    // A key of the wrong length (a flipped size byte) decodes as some other number.
    if (!Number.isInteger(key) || key < 0 || key > 0xffffffff) throw shard.damaged(`a ${swapped ? 'children' : 'parents'} row has the key ${key}, which is not a task id`);
    const range = edgeRange(value as unknown as Buffer, key);
    if (range === null) throw shard.damaged(`the ${swapped ? 'children' : 'parents'} rows of task ${key} hold ${edgeProblem(value as unknown as Buffer)}`);
    for (let other = range[0]; other <= range[1]; other++) {
      const c = swapped ? other : key;
      const p = swapped ? key : other;
      if (n === out.length) {
        const grown = new BigUint64Array(n * 2);
        grown.set(out);
        out = grown;
      }
      // One BigInt per edge: below 2^21 the key is an exact double.
      out[n++] = c < 2 ** 21 ? BigInt(c * 2 ** 32 + p) : (BigInt(c) << 32n) | BigInt(p);
    }
  }
  return out.subarray(0, n).sort();
}
