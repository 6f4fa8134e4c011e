import type { FormatBase } from '../format.ts';

/** UTF-8 JSON, one value per record. */
export interface JsonFormat<T> extends FormatBase<T> {
  readonly type: 'json';
}

class JsonValueFormat<T> implements JsonFormat<T> {
  readonly type = 'json';

  // The hot path of most jobs: nothing but base64 -> string -> JSON.parse. Malformed JSON throws
  // JSON.parse's SyntaxError, whose message is precise enough to be the dead-letter reason.
  decode(base64: string): T {
    return JSON.parse(Buffer.from(base64, 'base64').toString('utf8')) as T;
  }

  decodeText(text: string): T {
    return JSON.parse(text) as T;
  }

  toString(): string {
    return 'Json';
  }
}

/**
 * Decodes UTF-8 JSON values. `T` is the shape the job expects; it is not checked at run time
 * (a check would cost every record), so validate in a `map` or `filter` if producers vary.
 *
 * @example
 * job('bids').fromKafka({ value: json<Bid>() })
 */
export function json<T = unknown>(): JsonFormat<T> {
  return new JsonValueFormat<T>();
}
