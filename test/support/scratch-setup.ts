/** vitest setup file: every test file removes the scratch folders it made (./scratch.ts). */
import { afterAll } from 'vitest';
import { removeScratchDirs } from './scratch.ts';

afterAll(removeScratchDirs);
