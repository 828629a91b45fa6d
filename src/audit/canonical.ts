// The one byte form of an audit entry that its hash covers: RFC 8785 (JSON Canonicalization Scheme), so that a
// verifier in any language gets the same bytes from the same values, whatever order or spacing a line was written in.
import canonicalize from 'canonicalize';

/** RFC 8785 text of a JSON value (sorted keys, no spaces, ECMAScript number form). */
export function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('not a JSON value');
  return text;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A string JCS accepts: a lone UTF-16 surrogate (which no UTF-8 text can hold) becomes U+FFFD. An argv is UTF-8
 * decoded by node already; this keeps a value from elsewhere (an error message quoting bytes) from failing a record.
 */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}
