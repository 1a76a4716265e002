/**
 * Unicode's default-ignorable code points: zero-width and bidi controls, but also soft hyphens, Hangul fillers,
 * variation selectors and tag characters, which render as nothing and would let invisible or misleading text through.
 */
export const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;

/** Removes invisible and direction-control characters and folds whitespace; user text is otherwise kept as typed. */
export function cleanText(text: string): string {
  return text.replace(INVISIBLE, '').replace(/\s+/g, ' ').trim();
}
