// Unit contents are stored in the registry once, under their hash, and never change there: two units
// with the same text share one record, and a unit's hash says which text it runs.
import { createHash } from 'node:crypto';

/** sha256 of the text's UTF-8 bytes, in lowercase hex. */
export function unitHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
