/**
 * Iceberg's binary single-value serialization (spec, Appendix D), used for the lower and upper
 * bounds in manifests: int and float as 4 bytes little-endian, long, double and timestamptz
 * (microseconds) as 8 bytes little-endian, boolean as one byte, string as UTF-8 without a
 * length, binary as is.
 */
import type { PhysicalValue } from '../parquet/column-vectors.ts';
import type { ColumnType } from '../sink/table.ts';

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeSingleValue(type: ColumnType, value: PhysicalValue): Uint8Array {
  switch (type) {
    case 'boolean':
      return Uint8Array.of(value ? 1 : 0);
    case 'int':
      return fixed(4, (view) => view.setInt32(0, Number(value), true));
    case 'float':
      return fixed(4, (view) => view.setFloat32(0, Number(value), true));
    case 'double':
      return fixed(8, (view) => view.setFloat64(0, Number(value), true));
    case 'long':
    case 'timestamptz':
      return fixed(8, (view) => view.setBigInt64(0, BigInt(value as bigint | number), true));
    case 'string':
      return utf8.encode(String(value));
    case 'binary':
      return value as Uint8Array;
  }
}

/** The inverse of {@link encodeSingleValue}; long and timestamptz (microseconds) decode to bigint. */
export function decodeSingleValue(type: ColumnType, bytes: Uint8Array): PhysicalValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 'boolean':
      return bytes[0] !== 0;
    case 'int':
      return view.getInt32(0, true);
    case 'float':
      return view.getFloat32(0, true);
    case 'double':
      return view.getFloat64(0, true);
    case 'long':
    case 'timestamptz':
      return view.getBigInt64(0, true);
    case 'string':
      return utf8Decoder.decode(bytes);
    case 'binary':
      return bytes;
  }
}

function fixed(size: number, write: (view: DataView) => void): Uint8Array {
  const bytes = new Uint8Array(size);
  write(new DataView(bytes.buffer));
  return bytes;
}
