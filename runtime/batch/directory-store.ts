import { appendFile, mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { BatchResult } from '../engine/batch-result.ts';
import type { EngineState } from '../engine/state.ts';
import { decodeState, encodeState } from '../engine/state-codec.ts';
import { toJson } from '../output-json.ts';
import type { OutputSink, StateStore } from './stores.ts';

/**
 * State and outputs in a local directory, for `floe invoke --dir`:
 * - state.json: the engine state, replaced atomically (write, fsync, rename);
 * - rows.jsonl, late.jsonl, dead-letters.jsonl: one JSON object per line, appended.
 *
 * Outputs and state are not committed together here: a crash between the two can repeat a
 * batch's rows. The exactly-once protocol replaces this store; see docs/design.md.
 */
export class DirectoryStore<Row> implements StateStore, OutputSink<Row> {
  constructor(readonly dir: string) {}

  async load(): Promise<EngineState | undefined> {
    try {
      return decodeState(await readFile(join(this.dir, 'state.json'), 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`Could not read the state in ${this.dir}/state.json: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async save(state: EngineState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = join(this.dir, 'state.json');
    const temp = `${target}.${process.pid}.tmp`;
    const file = await open(temp, 'w');
    try {
      await file.writeFile(encodeState(state));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
  }

  async write(result: BatchResult<Row>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await Promise.all([
      appendLines(join(this.dir, 'rows.jsonl'), result.rows),
      appendLines(join(this.dir, 'late.jsonl'), result.late),
      appendLines(join(this.dir, 'dead-letters.jsonl'), result.deadLetters),
    ]);
  }
}

async function appendLines(path: string, items: readonly unknown[]): Promise<void> {
  if (items.length === 0) return;
  await appendFile(path, items.map((item) => `${toJson(item)}\n`).join(''));
}
