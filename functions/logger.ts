import { toJson } from '../runtime/output-json.ts';

/** One JSON object per line, as CloudWatch Logs and Logs Insights read best. */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface Logger {
  log(level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>): void;
}

const RANK: Readonly<Record<LogLevel, number>> = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3 };

export function jsonLogger(
  context: Readonly<Record<string, unknown>>,
  write: (line: string) => void = console.log,
  /** Lines below this level are dropped. @default 'DEBUG' (every line) */
  level: LogLevel = 'DEBUG',
): Logger {
  const lowest = RANK[level];
  return {
    log(level, message, fields) {
      if (RANK[level] < lowest) return;
      // The line's own keys come first and win: a field or context entry never replaces them.
      const own = { level, message, timestamp: new Date().toISOString() };
      write(toJson(Object.assign({ ...own }, context, fields, own)));
    },
  };
}
