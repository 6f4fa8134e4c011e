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
      write(
        JSON.stringify(
          { level, message, timestamp: new Date().toISOString(), ...context, ...fields },
          (_key, value) =>
            typeof value === 'bigint'
              ? value.toString()
              : typeof value === 'number' && !Number.isFinite(value)
                ? String(value)
                : value,
        ),
      );
    },
  };
}
