import type { FormatBase } from '../format.ts';

/** A UTF-8 string, one per record. */
export interface TextFormat extends FormatBase<string> {
  readonly type: 'string';
}

class TextValueFormat implements TextFormat {
  readonly type = 'string';

  // Invalid UTF-8 becomes U+FFFD rather than an error, as Kafka's StringDeserializer does.
  decode(base64: string): string {
    return Buffer.from(base64, 'base64').toString('utf8');
  }

  decodeText(text: string): string {
    return text;
  }

  toString(): string {
    return 'Text';
  }
}

/** Decodes values as UTF-8 text. */
export function text(): TextFormat {
  return new TextValueFormat();
}
