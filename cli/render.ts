import type { BatchResult, DeadLetter, LateRecord } from '../runtime/engine/batch-result.ts';

/** Text for people: watermarks and timestamps as ISO times, tables with aligned columns. */
export function formatTime(ms: number): string {
  if (ms === Number.POSITIVE_INFINITY) return '+inf';
  if (ms === Number.NEGATIVE_INFINITY) return '-inf';
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

export function formatCell(value: unknown, column: string): string {
  if (typeof value === 'number' && /(^|_)(window_start|window_end|time|ts)$|_at$/.test(column))
    return formatTime(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Rows as aligned columns, at most `limit` of them followed by "... N more". With `columns`, an
 * empty list still shows its header; without, it is "(none)".
 */
export function renderTable(
  rows: readonly Record<string, unknown>[],
  limit = Number.POSITIVE_INFINITY,
  columns: readonly string[] | undefined = rows[0] === undefined ? undefined : Object.keys(rows[0]),
): string {
  if (columns === undefined || columns.length === 0) return '  (none)';
  const shown = rows.slice(0, limit).map((row) => columns.map((c) => formatCell(row[c], c)));
  const widths = columns.map((c, i) => Math.max(c.length, ...shown.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `  ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  const out = [line(columns), line(widths.map((w) => '-'.repeat(w))), ...shown.map(line)];
  if (rows.length > shown.length) out.push(`  ... ${rows.length - shown.length} more`);
  return out.join('\n');
}

/** A `floe query` command line to copy, run from the working directory. */
export function queryCommand(sql: string, dir: string): string {
  return `npx floe query "${sql}" --dir ${shellWord(dir)}`;
}

/** A word for a POSIX shell: as is when plain, else single-quoted. */
export function shellWord(word: string): string {
  return /^[\w./:@%+=,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

export function renderLate(late: readonly LateRecord[]): string {
  return renderTable(
    late.map((l) => ({
      topic: l.topic,
      partition: l.partition,
      offset: l.offset,
      event_time: formatTime(l.timestamp),
      watermark: formatTime(l.watermark),
    })),
  );
}

export function renderDeadLetters(deadLetters: readonly DeadLetter[]): string {
  if (deadLetters.length === 0) return '  (none)';
  return deadLetters
    .map((d) =>
      d.kind === 'record'
        ? `  ${d.topic} partition ${d.partition} offset ${d.offset} [${d.stage}]: ${d.reason}`
        : `  window [${formatTime(d.window.start)}, ${formatTime(d.window.end)}) key ${String(d.key)}: ${d.reason}`,
    )
    .join('\n');
}

export function renderBatch(result: BatchResult<unknown>, tableName: string): string {
  const m = result.metrics;
  const lines = [
    `records ${m.records}, redelivered ${m.redelivered}, tombstones ${m.tombstones}, deduplicated ${m.deduplicated}, late ${m.late}, dead letters ${m.deadLetters}, rows ${m.rows}`,
    `job watermark ${formatTime(m.watermark)}`,
    ...result.partitions.map(
      (p) => `  ${p.id}: offset ${p.offset}, watermark ${formatTime(p.watermark)}${p.idle ? ' (idle)' : ''}`,
    ),
    '',
    `Rows for ${tableName} (${result.rows.length}):`,
    renderTable(
      result.rows.map((r) => ({
        ...(r.row as Record<string, unknown>),
        ...(r.update ? { update: true } : {}),
      })),
    ),
    '',
    `Late records (${result.late.length}):`,
    renderLate(result.late),
    '',
    `Dead letters (${result.deadLetters.length}):`,
    renderDeadLetters(result.deadLetters),
  ];
  return lines.join('\n');
}
