// Compares the two Parquet writer candidates for Floe's Iceberg sink: hyparquet-writer (pure JS)
// and parquet-wasm (arrow-rs in wasm, fed through apache-arrow). Not part of the build: run it
// in a scratch directory where all three packages are installed, e.g.
//   mkdir /tmp/pq && cd /tmp/pq && npm i hyparquet-writer hyparquet parquet-wasm apache-arrow
//   node /path/to/floe/scripts/bench-parquet.mjs [rows] [windows|bids]
// Shapes: windows = (auction long, window_start tz, window_end tz, bids long), a windowed
// aggregate's output; bids = (auction long, price double, channel string, url string), raw events.
// Each candidate runs in a fresh process so that its import (cold start) is measured alone.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const candidate = ['hyparquet', 'wasm'].includes(process.argv[2]) ? process.argv[2] : undefined;
const args = candidate ? process.argv.slice(3) : process.argv.slice(2);
const rows = Number(args[0] ?? 1_000_000);
const shape = args[1] ?? 'windows';
const self = fileURLToPath(import.meta.url);
// Resolve the candidates from the current directory, not from this script's folder.
const requireFromCwd = createRequire(join(process.cwd(), 'noop.js'));
const load = (name) => import(pathToFileURL(requireFromCwd.resolve(name)).href);

function makeBids(n) {
  const auction = new BigInt64Array(n);
  const price = new Float64Array(n);
  const channel = new Array(n);
  const url = new Array(n);
  const channels = ['Google', 'Facebook', 'Baidu', 'Apple'];
  for (let i = 0; i < n; i++) {
    auction[i] = BigInt(1000 + ((i * 7919) % 50_000));
    price[i] = Math.round(((i * 2654435761) % 1_000_000) / 7) / 100;
    channel[i] = channels[i % 4];
    url[i] = `https://www.nexmark.com/item/${(i * 40503) % 100_000}/bid?session=${i % 977}`;
  }
  return { auction, price, channel, url };
}

// Table shaped like a Nexmark q5/q7 output: (auction long, window_start tz, window_end tz, bids long).
function makeColumns(n) {
  const auction = new BigInt64Array(n);
  const start = new BigInt64Array(n);
  const end = new BigInt64Array(n);
  const bids = new BigInt64Array(n);
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < n; i++) {
    auction[i] = BigInt(1000 + ((i * 7919) % 50_000));
    const ms = t0 + Math.floor(i / 5000) * 10_000;
    start[i] = BigInt(ms) * 1000n;
    end[i] = BigInt(ms + 10_000) * 1000n;
    bids[i] = BigInt(1 + ((i * 31) % 997));
  }
  return { auction, start, end, bids };
}

async function runHyparquet() {
  let t = performance.now();
  const { parquetWriteBuffer } = await load('hyparquet-writer');
  const importMs = performance.now() - t;
  if (shape === 'bids') {
    const c = makeBids(rows);
    const schema = [
      { name: 'root', num_children: 4 },
      { name: 'auction', type: 'INT64', repetition_type: 'REQUIRED', field_id: 1 },
      { name: 'price', type: 'DOUBLE', repetition_type: 'REQUIRED', field_id: 2 },
      {
        name: 'channel',
        type: 'BYTE_ARRAY',
        converted_type: 'UTF8',
        repetition_type: 'REQUIRED',
        field_id: 3,
      },
      { name: 'url', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED', field_id: 4 },
    ];
    t = performance.now();
    const buf = parquetWriteBuffer({
      schema,
      rowGroupSize: 1_000_000,
      columnData: Object.entries(c).map(([name, data]) => ({ name, data })),
    });
    return { importMs, writeMs: performance.now() - t, bytes: buf.byteLength, file: new Uint8Array(buf) };
  }
  const c = makeColumns(rows);
  const ts = { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' };
  const schema = [
    { name: 'root', num_children: 4 },
    { name: 'auction', type: 'INT64', repetition_type: 'REQUIRED', field_id: 1 },
    { name: 'window_start', type: 'INT64', repetition_type: 'REQUIRED', field_id: 2, logical_type: ts },
    { name: 'window_end', type: 'INT64', repetition_type: 'REQUIRED', field_id: 3, logical_type: ts },
    { name: 'bids', type: 'INT64', repetition_type: 'REQUIRED', field_id: 4 },
  ];
  t = performance.now();
  const buf = parquetWriteBuffer({
    schema,
    rowGroupSize: 1_000_000,
    columnData: [
      { name: 'auction', data: c.auction },
      { name: 'window_start', data: c.start },
      { name: 'window_end', data: c.end },
      { name: 'bids', data: c.bids },
    ],
  });
  const writeMs = performance.now() - t;
  return { importMs, writeMs, bytes: buf.byteLength, file: new Uint8Array(buf) };
}

async function runWasm() {
  let t = performance.now();
  const arrow = await load('apache-arrow');
  const pw = await load('parquet-wasm');
  const importMs = performance.now() - t;
  const meta = (id) => new Map([['PARQUET:field_id', String(id)]]);
  const props = () =>
    new pw.WriterPropertiesBuilder()
      .setCompression(pw.Compression.SNAPPY)
      .setMaxRowGroupSize(1_000_000)
      .build();
  if (shape === 'bids') {
    const c = makeBids(rows);
    t = performance.now();
    const fields = [
      new arrow.Field('auction', new arrow.Int64(), false, meta(1)),
      new arrow.Field('price', new arrow.Float64(), false, meta(2)),
      new arrow.Field('channel', new arrow.Utf8(), false, meta(3)),
      new arrow.Field('url', new arrow.Utf8(), false, meta(4)),
    ];
    const vectors = [
      arrow.makeVector(c.auction),
      arrow.makeVector(c.price),
      arrow.vectorFromArray(c.channel, new arrow.Utf8()),
      arrow.vectorFromArray(c.url, new arrow.Utf8()),
    ];
    const batch = new arrow.RecordBatch(
      new arrow.Schema(fields),
      arrow.makeData({
        type: new arrow.Struct(fields),
        length: rows,
        nullCount: 0,
        children: vectors.map((v) => v.data[0]),
      }),
    );
    const wasmTable = pw.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table([batch]), 'stream'));
    const file = pw.writeParquet(wasmTable, props());
    return { importMs, writeMs: performance.now() - t, bytes: file.byteLength, file };
  }
  const c = makeColumns(rows);
  const tsType = new arrow.TimestampMicrosecond('UTC');
  t = performance.now();
  const fields = [
    new arrow.Field('auction', new arrow.Int64(), false, meta(1)),
    new arrow.Field('window_start', tsType, false, meta(2)),
    new arrow.Field('window_end', tsType, false, meta(3)),
    new arrow.Field('bids', new arrow.Int64(), false, meta(4)),
  ];
  const data = [c.auction, c.start, c.end, c.bids].map((values, i) =>
    arrow.makeData({ type: fields[i].type, length: rows, nullCount: 0, data: values }),
  );
  const batch = new arrow.RecordBatch(
    new arrow.Schema(fields),
    arrow.makeData({ type: new arrow.Struct(fields), length: rows, nullCount: 0, children: data }),
  );
  const table = new arrow.Table([batch]);
  const wasmTable = pw.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  const file = pw.writeParquet(wasmTable, props());
  const writeMs = performance.now() - t;
  return { importMs, writeMs, bytes: file.byteLength, file };
}

async function checkFooter(file) {
  const { parquetMetadata } = await load('hyparquet');
  const meta = parquetMetadata(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength));
  return meta.schema.slice(1).map((e) => ({
    name: e.name,
    field_id: e.field_id,
    type: e.type,
    logical: e.logical_type ? JSON.stringify(e.logical_type) : undefined,
    stats: meta.row_groups[0]?.columns.find((col) => col.meta_data?.path_in_schema[0] === e.name)?.meta_data
      ?.statistics
      ? 'yes'
      : 'no',
  }));
}

if (candidate) {
  const which = candidate;
  const result = await (which === 'hyparquet' ? runHyparquet() : runWasm());
  const footer = await checkFooter(result.file);
  const heapMb = Math.round(process.memoryUsage().rss / 1e6);
  console.log(JSON.stringify({ which, rows, shape, ...result, file: undefined, rssMb: heapMb, footer }));
} else {
  console.log(`${rows} rows, shape ${shape}`);
  for (const name of ['hyparquet', 'wasm']) {
    for (let run = 0; run < 3; run++) {
      const out = execFileSync(process.execPath, [self, name, String(rows), shape], { encoding: 'utf8' });
      const r = JSON.parse(out);
      console.log(
        `${name.padEnd(9)} run ${run}: import ${r.importMs.toFixed(0)} ms, write ${r.writeMs.toFixed(0)} ms, ` +
          `${(r.bytes / 1e6).toFixed(2)} MB, rss ${r.rssMb} MB`,
      );
      if (run === 0) console.log(`  footer: ${JSON.stringify(r.footer)}`);
    }
  }
}
