/**
 * A SQL statement next to the values it binds, by name: `$requestId` in the text becomes `$1`, `$2` … in the order the
 * names are declared, and `bind` puts the values in that order. A name used twice binds once. Nothing is ever
 * interpolated into the text: a statement's text is fixed when its module loads (checked then: every `$name` must be
 * declared and every declared name used).
 */
export interface Statement<P extends object> {
  /** The SQL as sent to the database, with positional placeholders. */
  readonly text: string;
  /** The declared names, in placeholder order. */
  readonly names: readonly (keyof P & string)[];
  bind(values: P): unknown[];
}

const NAMED = /\$([a-zA-Z_][a-zA-Z0-9_]*)/g;

export function statement<P extends object>(names: readonly (keyof P & string)[], text: string): Statement<P> {
  const used = new Set<string>();
  const compiled = text.replace(NAMED, (_, name: string) => {
    const index = names.indexOf(name as keyof P & string);
    if (index < 0) throw new Error(`SQL uses $${name}, which is not declared (${names.join(', ')})`);
    used.add(name);
    return `$${index + 1}`;
  });
  const unused = names.filter((n) => !used.has(n));
  if (unused.length > 0) throw new Error(`SQL declares ${unused.join(', ')} but never uses it`);
  return {
    text: compiled,
    names,
    bind: (values: P) => names.map((name) => (values as Record<string, unknown>)[name] ?? null),
  };
}

/** The values of a fenced write: the lease it is made under (FENCED). */
export interface FenceValues {
  id: string;
  fence: number;
  owner: string;
}
export const FENCE_NAMES = ['id', 'fence', 'owner'] as const;
