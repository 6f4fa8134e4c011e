import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { floe } from '../test/support/floe-cli.ts';

const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
  version: string;
};

describe('floe --help and --version', () => {
  it.each(['--version', '-v'])('%s prints the package version', async (flag) => {
    const { code, stdout, stderr } = await floe(flag);
    expect(code, stderr).toBe(0);
    expect(stdout.trim()).toBe(version);
  });

  it.each([
    ['run', 'Usage: floe run <job.ts> --input <file.jsonl>', '--fail-on-dead-letters'],
    ['invoke', 'Usage: floe invoke <job.ts> --event <file.json>', '--drain'],
    ['tables', 'Usage: floe tables --dir DIR', '--json'],
    ['demo', 'Usage: floe demo', '--bids N'],
    ['savepoint', 'Usage: floe savepoint create <job.ts>', '--allow-non-restored-state'],
  ])('floe %s --help and -h print the command usage, exit 0', async (command, usage, flag) => {
    for (const help of ['--help', '-h']) {
      const { code, stdout, stderr } = await floe(command, help);
      expect(code, stderr).toBe(0);
      expect(stderr).toBe('');
      expect(stdout.startsWith(usage)).toBe(true);
      expect(stdout).toContain(flag);
    }
    // --help wins over missing required flags, and `floe help <command>` says the same.
    expect((await floe('help', command)).stdout.startsWith(usage)).toBe(true);
  });

  it('floe --help lists the commands and the global flags', async () => {
    const { code, stdout } = await floe('--help');
    expect(code).toBe(0);
    expect(stdout).toContain('Commands:');
    expect(stdout).toContain('--version');
  });

  it('a flag mistake is one line naming the command help, exit 2', async () => {
    const { code, stderr } = await floe('tables', '--bogus');
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('floe tables --help');
  });
});
