// Child process for the one-writer-per-id tests: waits until <go-at> (ms since
// the epoch, so that several children open at the same instant), opens a writer
// on <ckpt>, and prints one JSON line: {"won":true,"pid":…} (then holds the
// shard for <hold-ms> and closes), or {"won":false,"code":…,"message":…}.
//   node claim-writer.mjs <ckpt> <writerId> <go-at> <hold-ms>
import { LineageStore, rootLineage } from '../../dist/index.js';

const [dir, writerId, goAt, holdMs] = process.argv.slice(2);
while (Date.now() < Number(goAt)) {
  // Spin for the last few milliseconds: a timer would spread the starts out again.
}
let store;
try {
  store = await LineageStore.open(dir, { writerId, onWarning: () => {} });
} catch (err) {
  console.log(JSON.stringify({ won: false, code: err.code, message: err.message }));
  process.exit(0);
}
console.log(JSON.stringify({ won: true, pid: process.pid }));
store.recordEmission({ stage: 'write', parents: [rootLineage(`from-${process.pid}`)], children: [], terminal: true });
await new Promise((r) => setTimeout(r, Number(holdMs)));
await store.close();
