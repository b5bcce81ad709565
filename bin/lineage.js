#!/usr/bin/env node
// Commands that map LMDB files run in a child process (dist/cli/isolate.js says why); the rest run here.
import { fileURLToPath } from 'node:url';
import { CHILD_MARKER, needsIsolation, runIsolated, startChild } from '../dist/cli/isolate.js';

if (process.env[CHILD_MARKER] === '1') {
  startChild();
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv);
} else if (needsIsolation(process.argv)) {
  process.exitCode = await runIsolated(fileURLToPath(import.meta.url), process.argv);
} else {
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv);
}
