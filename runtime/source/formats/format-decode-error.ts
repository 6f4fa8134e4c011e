import { FloeError } from '../../errors.ts';

/**
 * A record value is not valid for its format. The engine turns the record into a dead letter
 * with this message as the reason, so the message says what was found and what was expected.
 */
export class FormatDecodeError extends FloeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FormatDecodeError';
  }
}
