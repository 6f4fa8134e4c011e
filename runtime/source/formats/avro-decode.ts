import type avsc from 'avsc';
import { describeError } from '../../errors.ts';
import { FormatDecodeError } from './format-decode-error.ts';

/**
 * Decodes one Avro value that must fill `bytes` from `start` to the end.
 * `subject` names the value in error messages, e.g. `Avro value (schema id 7, record Bid)`.
 */
export function decodeAvro<T>(type: avsc.Type, bytes: Buffer, start: number, subject: string): T {
  let result: { value: unknown; offset: number };
  try {
    result = type.decode(bytes, start);
  } catch (error) {
    if (error instanceof FormatDecodeError) throw error;
    // avsc throws on bytes that cannot be this schema, e.g. "invalid union index: 5".
    throw new FormatDecodeError(`${subject} is not valid: ${describeError(error)}.`, { cause: error });
  }
  if (result.offset < 0) {
    throw new FormatDecodeError(
      `${subject} is truncated: its ${bytes.length - start} bytes end before the value does.`,
    );
  }
  if (result.offset !== bytes.length) {
    const trailing = bytes.length - result.offset;
    throw new FormatDecodeError(
      `${subject} has ${trailing} trailing byte${trailing === 1 ? '' : 's'}: the value ends after ${result.offset - start} of ${bytes.length - start} bytes.`,
    );
  }
  return result.value as T;
}
