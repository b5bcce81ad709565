/**
 * The `lineage` command. `main(argv, io?)` parses the command line, runs one
 * subcommand and resolves to the exit code (0 fine, 1 the checkpoint or run
 * has a problem, 2 usage error); `bin/lineage.js` only calls it. Tests call it
 * in-process with their own `io`.
 *
 * @example
 * const code = await main(['node', 'lineage', 'stats', 'ckpt']);
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ErrorCodes } from '../errors/lineage-error.js';
import { lmdbMayHavePrinted } from '../store/write-failure.js';
import { EXIT_OK, EXIT_USAGE, asLineageError, errorLine, exitCodeFor, usageError } from './cli-errors.js';
import { defaultIo, type CliIo } from './cli-io.js';
import { commandContext, type CommandContext } from './command-context.js';
import { INSPECT_FORMATS, inspectCommand, type InspectOptions } from './inspect-command.js';
import { DEFAULT_INVALIDATE_LIMIT, invalidateCommand, type InvalidateCommandOptions } from './invalidate-command.js';
import { mergeCommand, type MergeCommandOptions } from './merge-command.js';
import { DEFAULT_PLAN_LIMIT, planCommand, type PlanCommandOptions } from './plan-command.js';
import { runCommand, type RunCommandOptions } from './run-command.js';
import { statsCommand, type StatsOptions } from './stats-command.js';
import { DEFAULT_VERIFY_LIMIT, verifyCommand, type VerifyCommandOptions } from './verify-command.js';
import { STATUSES } from './task-status.js';

export type { CliIo } from './cli-io.js';

export async function main(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const full = defaultIo(io);
  const ctx = commandContext(full);
  let exitCode = EXIT_OK;
  const program = buildProgram(ctx, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'node' });
    return exitCode;
  } catch (err) {
    ctx.progress.done();
    if (err instanceof CommanderError) return commanderExit(err, full);
    const error = asLineageError(err);
    // LMDB prints "Write error: ..." with no newline when a page write fails: end it, so that ours is a line of its own.
    full.stderr.write((lmdbMayHavePrinted(error) ? '\n' : '') + errorLine(error));
    if (error.code === ErrorCodes.INTERNAL && full.env.LINEAGE_DEBUG) full.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    return exitCodeFor(error);
  }
}

/** Help and --version end with exit 0; every parse error is one LINEAGE_USAGE line and exit 2. */
function commanderExit(err: CommanderError, io: CliIo): number {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
  if (err.code === 'commander.help') {
    io.stderr.write(errorLine(usageError('no command given; see the list above, or `lineage <command> --help`')));
    return EXIT_USAGE;
  }
  const message = err.message.replace(/^error: /, '');
  io.stderr.write(errorLine(usageError(`${message} (see \`lineage <command> --help\`)`)));
  return EXIT_USAGE;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function wholeNumber(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected a whole number of at least ${min}, got ${JSON.stringify(value)}.`);
    }
    return n;
  };
}

const EXIT_CODES_HELP = `
Exit codes:
  0  fine
  1  the checkpoint or the run has a problem: it cannot be read, verify found
     errors, or tasks failed
  2  usage error: unknown command or option, a bad argument, or an unusable
     sources file or pipeline module
  130  \`lineage run\` was stopped by SIGINT (143: by SIGTERM); what had finished
     is committed: run the same command again to resume

Errors are one line on stderr: "lineage: <CODE>: <message>". JSON, NDJSON,
DOT and Mermaid go to stdout only; progress shows on stderr when it is a terminal.`;

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;
}

function buildProgram(ctx: CommandContext, setExit: (code: number) => void): Command {
  const program = new Command('lineage');
  program
    .description('Inspect, plan, verify and run lineage-dag checkpoints.')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      outputError: () => undefined,
    })
    .addHelpText(
      'after',
      examples('lineage inspect ckpt', 'lineage plan ckpt --explain part-0001.jsonl', 'lineage verify ckpt', 'lineage run ./pipeline.js --checkpoint ckpt') +
        '\n' +
        EXIT_CODES_HELP,
    );

  program
    .command('inspect')
    .description('Show the DAG: a summary and a tree per source, or JSON, NDJSON, DOT or Mermaid.')
    .argument('<checkpoint>', 'checkpoint directory')
    .addOption(new Option('-f, --format <format>', 'output format').choices(INSPECT_FORMATS).default('text'))
    .option('--depth <n>', 'levels below each source to draw in the tree (default: all)', wholeNumber(0))
    .option('--limit <n>', 'at most n tasks (text default: 100 lines; other formats: all)', wholeNumber(1))
    .option('--source <key>', "only this source's tasks")
    .option('--udid <udid>', "only this task, its ancestors and its descendants (a unique prefix of 6+ hex characters works)")
    .addOption(new Option('--status <status>', 'only tasks with this status').choices(STATUSES))
    .option('--stage <id>', 'only tasks this stage emitted')
    .addHelpText(
      'after',
      examples(
        'lineage inspect ckpt',
        'lineage inspect ckpt --source part-0001.jsonl --depth 2',
        'lineage inspect ckpt --status failed',
        'lineage inspect ckpt --format ndjson | jq -c "select(.status == \\"failed\\")"',
        'lineage inspect ckpt --udid 1e7faf3f --format dot | dot -Tsvg > task.svg',
      ),
    )
    .action(async (dir: string, opts: InspectOptions) => setExit(await inspectCommand(ctx, dir, opts)));

  program
    .command('plan')
    .description('Preview a rerun: sources skipped / resumed / new / invalidated, subtrees pruned, work saved; per stage and per source.')
    .argument('<checkpoint>', 'checkpoint directory')
    .option('--sources <file>', 'source keys of the next run, one per line (- for stdin); default: the sources the checkpoint knows')
    .option('--pipeline <module>', "plan for this pipeline module's stages (default: the pipeline that wrote the checkpoint): shows what a changed stage voids")
    .option('--accept-change', 'plan as if the pipeline change were accepted as cosmetic (run --accept-change)')
    .option('--explain <key-or-udid>', 'why this source (or task) reruns: the path down to each failed or never-consumed task')
    .option('--limit <n>', `sources (or open tasks, with --explain) listed (default ${DEFAULT_PLAN_LIMIT})`, wholeNumber(1))
    .option('--no-check-outputs', "do not check that the files stages declared with outputs() still exist (default: a task whose output is gone reruns, code output-missing)")
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      examples(
        'lineage plan ckpt',
        'lineage plan ckpt --sources next-run.txt',
        'ls data/*.jsonl | lineage plan ckpt --sources -',
        'lineage plan ckpt --explain part-0001.jsonl',
        'lineage plan ckpt --pipeline ./pipeline.js',
        'lineage plan ckpt --json | jq .totals',
      ),
    )
    .action(async (dir: string, opts: PlanCommandOptions) => setExit(await planCommand(ctx, dir, opts)));

  program
    .command('stats')
    .description('Count tasks by stage, type and status; edges, shards, bytes on disk, format version, fingerprint.')
    .argument('<checkpoint>', 'checkpoint directory')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples('lineage stats ckpt', 'lineage stats ckpt --json | jq .byStatus'))
    .action(async (dir: string, opts: StatsOptions) => setExit(await statsCommand(ctx, dir, opts)));

  program
    .command('verify')
    .description('Check the invariants (edge symmetry, task_type, completion, outcomes, no cycles); exit 1 naming the bad UDIDs.')
    .argument('<checkpoint>', 'checkpoint directory')
    .option('--repair', 'recompute the derived state (task_type, completed) from the edges, then verify again; stop writers first')
    .option('--json', 'print one JSON document')
    .option('--limit <n>', `problems listed per check (default ${DEFAULT_VERIFY_LIMIT})`, wholeNumber(1))
    .addHelpText('after', examples('lineage verify ckpt', 'lineage verify ckpt --repair', 'lineage verify ckpt --json | jq .counts'))
    .action(async (dir: string, opts: VerifyCommandOptions) => setExit(await verifyCommand(ctx, dir, opts)));

  const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
  program
    .command('invalidate')
    .description('Void tasks and everything downstream of them, so the next run redoes them; recorded in the manifest.')
    .argument('<checkpoint>', 'checkpoint directory')
    .option('--source <key>', 'void this source: its root is consumed again, all it led to is redone (repeatable)', collect)
    .option('--stage <id>', 'void every task this stage consumed, and all it and later stages made of them (repeatable)', collect)
    .option('--udid <udid>', 'void this task and everything downstream of it (repeatable; a unique prefix of 6+ hex characters works)', collect)
    .option('--dry-run', 'say what would be voided; change nothing')
    .option('--json', 'print the result as one JSON document')
    .option('--limit <n>', `sources listed (default ${DEFAULT_INVALIDATE_LIMIT})`, wholeNumber(1))
    .addHelpText(
      'after',
      '\nStop every run writing the checkpoint first.\n' +
        examples('lineage invalidate ckpt --source part-0003.jsonl', 'lineage invalidate ckpt --stage clean --dry-run', 'lineage invalidate ckpt --udid 3fa2c1 --udid 77b0e2'),
    )
    .action(async (dir: string, opts: InvalidateCommandOptions) => setExit(await invalidateCommand(ctx, dir, opts)));

  program
    .command('merge')
    .description('Compact all writer shards into one environment, in place or into a new directory; verified before anything is replaced.')
    .argument('<checkpoint>', 'checkpoint directory')
    .option('--into <dir>', 'write the merged checkpoint here (a new or empty directory) and leave <checkpoint> as it is')
    .option('--json', 'print the result as one JSON document')
    .addHelpText(
      'after',
      '\nStop every run writing the checkpoint first: an in-place merge replaces the shards.\n' +
        examples('lineage merge ckpt', 'lineage merge ckpt --into ckpt-merged', 'lineage merge ckpt --json | jq .tasks'),
    )
    .action(async (dir: string, opts: MergeCommandOptions) => setExit(await mergeCommand(ctx, dir, opts)));

  program
    .command('run')
    .description("Run a pipeline module's Pipeline, recording into a checkpoint; a rerun skips what is complete.")
    .argument('<pipeline-module>', 'JavaScript module exporting a Pipeline as default or `pipeline` (and optionally `sources`, `sourceFromKey`)')
    .option('--checkpoint <dir>', 'checkpoint directory, created on the first run (required)')
    .option('--sources <file|->', "one source key per line (# comments and blank lines ignored; - reads standard input); default: the module's `sources`")
    .option('--writer-id <id>', 'this worker\'s writer shard, stable across retries (e.g. the array task index); default LINEAGE_WRITER_ID, else "main"')
    .option('--concurrency <n>', 'calls running at once per stage, unless a stage sets its own', wholeNumber(1))
    .option('--accept-change', 'the stages changed (id, order or version) but their outputs did not: keep the completed work')
    .option('--no-check-outputs', 'do not check, before the run, that the files stages declared with outputs() still exist')
    .option('--json', 'print the run report as one JSON document')
    .addHelpText(
      'after',
      '\nExit 1 when tasks failed: fix the cause and run again; completed work is skipped.\n' +
        examples(
          'lineage run ./pipeline.js --checkpoint ckpt',
          'lineage run ./pipeline.js --checkpoint ckpt --sources inputs.txt --concurrency 8',
          'ls data/*.jsonl | lineage run ./pipeline.js --checkpoint ckpt --sources -',
          'lineage run ./pipeline.js --checkpoint /scratch/ckpt --writer-id "task-$SLURM_ARRAY_TASK_ID" --sources part-$SLURM_ARRAY_TASK_ID.txt',
          'lineage run ./pipeline.js --checkpoint ckpt --json | jq .failures',
        ),
    )
    .action(async (module: string, opts: Partial<RunCommandOptions>) => {
      // Checked here rather than by commander, so that a missing module is reported first.
      if (opts.checkpoint === undefined) throw usageError("required option '--checkpoint <dir>' not specified (see `lineage run --help`)");
      setExit(await runCommand(ctx, module, { ...opts, checkpoint: opts.checkpoint }));
    });

  return program;
}
