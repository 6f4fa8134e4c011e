#!/usr/bin/env node
// The `floe` command. Jobs are TypeScript files: tsx compiles them on import, so a user's job
// needs no build step.
//
// Installed from the package, Floe runs its compiled JavaScript (dist/). In a source checkout
// (cli/main.ts is there; the package does not ship it) it runs the TypeScript sources through tsx,
// with the `floe-source` export condition on, so that a job importing `floe` gets the same
// modules as the CLI (see docs/design.md, "The package").
import { existsSync } from 'node:fs';
import { register as registerHooks } from 'node:module';
import { register } from 'tsx/esm/api';

const source = new URL('../cli/main.ts', import.meta.url);
register();
if (existsSync(source)) {
  registerHooks(new URL('./source-condition.js', import.meta.url));
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
