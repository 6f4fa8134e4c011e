#!/usr/bin/env node
// The `floe` command. Jobs are TypeScript files: tsx compiles them on import, so a user's job
// needs no build step.
//
// Installed from the package, Floe runs its compiled JavaScript (dist/). In a source checkout
// (cli/main.ts is there; the package does not ship it) it runs the TypeScript sources through tsx,
// with the `floe-source` export condition on, so that a job importing `floe` gets the same
// modules as the CLI (see docs/design.md, "The package").
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';

// Node 24 is what Floe is built and tested on (package.json's engines); an older `node` on the
// PATH would fail later, or behave differently, with a message about neither.
if (Number(process.versions.node.split('.')[0]) < 24) {
  process.stderr.write(
    `floe: needs Node.js 24 or later, and this is ${process.version}. Run it through npm (npx floe …, npm start), which uses the Node this project pins, or install Node 24.\n`,
  );
  process.exit(1);
}
const { register } = await import('tsx/esm/api');

const source = new URL('../cli/main.ts', import.meta.url);
register();
if (existsSync(source)) {
  // In-thread, as tsx's own hooks are: an off-thread hook (module.register) would move every
  // import of the run to the hooks thread, about 0.1 s of each command's start.
  nodeModule.registerHooks({
    resolve(specifier, context, nextResolve) {
      const conditions = context.conditions.includes('floe-source')
        ? context.conditions
        : [...context.conditions, 'floe-source'];
      return nextResolve(specifier, { ...context, conditions });
    },
  });
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
