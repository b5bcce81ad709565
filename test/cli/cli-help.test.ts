import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, lineage, lineageInProcess } from '../helpers/cli.js';

beforeAll(ensureBuilt);

const COMMANDS = ['inspect', 'plan', 'stats', 'verify', 'merge', 'run'] as const;

describe('lineage --help and --version', () => {
  it('prints the top-level help with the commands, examples and exit codes', () => {
    const r = lineage(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatchSnapshot();
  });

  it.each(COMMANDS)('prints help with an example for `%s`', (command) => {
    const r = lineage([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`Usage: lineage ${command}`);
    expect(r.stdout).toMatch(/Examples:\n {2}\$ lineage /);
    expect(r.stdout).toMatchSnapshot();
  });

  it('`lineage help <command>` is the same as `<command> --help`', () => {
    expect(lineage(['help', 'inspect']).stdout).toBe(lineage(['inspect', '--help']).stdout);
  });

  it('prints the package version', async () => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
    for (const flag of ['--version', '-V']) {
      const r = lineage([flag]);
      expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });
});

describe('usage errors: one LINEAGE_USAGE line on stderr, exit 2', () => {
  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['inspect'], /missing required argument 'checkpoint'/],
    [['inspect', 'a', 'b'], /too many arguments/],
    [['inspect', 'ckpt', '--bogus'], /unknown option '--bogus'/],
    [['inspect', 'ckpt', '--format', 'xml'], /argument 'xml' is invalid. Allowed choices are text, json, ndjson, dot, mermaid/],
    [['inspect', 'ckpt', '--status', 'done'], /Allowed choices are completed, filtered, failed, pending/],
    [['inspect', 'ckpt', '--depth', '-1'], /expected a whole number of at least 0/],
    [['inspect', 'ckpt', '--limit', '0'], /expected a whole number of at least 1/],
    [['verify', 'ckpt', '--limit', 'many'], /expected a whole number of at least 1/],
    [['run'], /missing required argument 'pipeline-module'/],
  ])('%j', (args, message) => {
    const r = lineage(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^lineage: LINEAGE_USAGE: .*\n$/);
    expect(r.stderr).toMatch(message);
  });

  it('no command at all: the help on stderr, then the usage line', () => {
    const r = lineage([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Usage: lineage');
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^lineage: LINEAGE_USAGE: no command given/);
  });

  it('main() returns the same codes in-process', async () => {
    expect((await lineageInProcess(['--version'])).code).toBe(0);
    const r = await lineageInProcess(['inspect', '--nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^lineage: LINEAGE_USAGE: unknown option '--nope'/);
  });
});
