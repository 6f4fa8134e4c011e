import { toJson } from '../runtime/output-json.ts';

/** One JSON object per line, as CloudWatch Logs and Logs Insights read best. */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface Logger {
  log(level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>): void;
}

export function jsonLogger(
  context: Readonly<Record<string, unknown>>,
  write: (line: string) => void = console.log,
): Logger {
  return {
    log(level, message, fields) {
      write(toJson({ level, message, timestamp: new Date().toISOString(), ...context, ...fields }));
    },
  };
}
