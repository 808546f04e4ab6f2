/**
 * Words of a log query matched in JS, exactly as the full-text index would: the `scan` plan and
 * excluded words check messages here instead of asking FTS5 (see log-query.ts).
 */
/** A word, prefix (`word*`) or phrase of a query. */
interface TextTerm {
  value: string;
  prefix: boolean;
}

// unicode61, the FTS5 tokenizer logs.ts uses: letters and digits make tokens, case and
// diacritics are folded; anything else separates.
const NON_ASCII = /[\u0080-\uffff]/;
const SEPARATORS = /[^\p{L}\p{N}]+/u;
const MARKS = /\p{M}+/gu;

/** The tokens FTS5's unicode61 tokenizer makes of a text (close enough to agree on real logs). */
export function tokenize(text: string): string[] {
  const folded = NON_ASCII.test(text) ? text.normalize('NFKD').replace(MARKS, '') : text;
  return folded.toLowerCase().split(SEPARATORS).filter(Boolean);
}

/** Whether a message contains a word, prefix or phrase as FTS5 matches it. */
function textMatcher(t: TextTerm): (tokens: string[]) => boolean {
  const want = tokenize(t.value);
  if (want.length === 0) return () => false;
  const last = want.length - 1;
  return (have) => {
    outer: for (let i = 0; i + last < have.length; i++) {
      for (let j = 0; j <= last; j++) {
        const h = have[i + j] as string;
        const w = want[j] as string;
        if (j === last && t.prefix ? !h.startsWith(w) : h !== w) continue outer;
      }
      return true;
    }
    return false;
  };
}

/** A filter for messages: every `required` term present, no `excluded` one; null when none. */
export function keepFilter(
  required: readonly TextTerm[],
  excluded: readonly TextTerm[],
): ((message: string) => boolean) | null {
  if (required.length === 0 && excluded.length === 0) return null;
  const must = required.map(textMatcher);
  const mustNot = excluded.map(textMatcher);
  return (message) => {
    const tokens = tokenize(message);
    return must.every((m) => m(tokens)) && !mustNot.some((m) => m(tokens));
  };
}
