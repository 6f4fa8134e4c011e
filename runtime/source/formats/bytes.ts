import type { FormatBase } from '../format.ts';

/** The raw bytes of each value. */
export interface BytesFormat extends FormatBase<Buffer> {
  readonly type: 'bytes';
}

class BytesValueFormat implements BytesFormat {
  readonly type = 'bytes';

  decode(base64: string): Buffer {
    return Buffer.from(base64, 'base64');
  }

  toString(): string {
    return 'Bytes';
  }
}

/** Passes each value through as a Buffer (a Uint8Array), for formats Floe does not know. */
export function bytes(): BytesFormat {
  return new BytesValueFormat();
}
