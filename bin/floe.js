#!/usr/bin/env node
// Jobs are TypeScript files; tsx compiles them on import, so `floe` needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
