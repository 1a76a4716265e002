// Discord's 400 "Invalid Form Body" (code 50035): every problem of a request at once, nested by field path, each leaf
// `{"_errors": [{"code", "message"}]}`, e.g. `{"embeds": {"0": {"fields": {"3": {"value": {"_errors": [...]}}}}}}`.
// Shape: discord-api-docs developers/reference.mdx "Error Messages" (array / object / request errors, "a complete list
// of errors is not feasible"), https://discord.com/developers/docs/reference#error-messages;
// seen in the wild e.g. https://github.com/discord/discord-api-docs/issues/1313 (BASE_TYPE_REQUIRED) and the
// @discordjs/rest test of DiscordAPIError (`embed.fields[0].value[BASE_TYPE_REQUIRED]: This field is required`).
import { E, fail } from '../errors';

export type Path = readonly (string | number)[];
export interface FormError {
  code: string;
  message: string;
}

// The generic messages, worded as Discord words them (sources: ../README.md).
export const required = (): FormError => ({ code: 'BASE_TYPE_REQUIRED', message: 'This field is required' });
export const maxLength = (max: number): FormError => ({
  code: 'BASE_TYPE_MAX_LENGTH',
  message: `Must be ${max} or fewer in length.`,
});
export const badLength = (min: number, max: number): FormError => ({
  code: 'BASE_TYPE_BAD_LENGTH',
  message: `Must be between ${min} and ${max} in length.`,
});
export const choices = (field: string, values: readonly (number | string)[]): FormError => ({
  code: 'UNION_TYPE_CHOICES',
  message: `Value of field "${field}" must be one of (${values.join(', ')}${values.length === 1 ? ',' : ''}).`,
});

/** Discord (Python) measures strings in code points, not UTF-16 units. */
export const length = (s: string): number => [...s].length;

export class FormErrors {
  private readonly root: Record<string, any> = {};
  private count = 0;

  /** `prefix`: where the message sits in the body, e.g. `['data']` for an interaction callback. */
  constructor(private readonly prefix: Path = []) {}

  add(path: Path, error: FormError): void {
    let node = this.root;
    for (const key of [...this.prefix, ...path]) node = node[String(key)] ??= {};
    (node._errors ??= []).push(error);
    this.count++;
  }

  /** Checks a string that must be at most `max` long (when present: null/undefined are absent). */
  max(path: Path, value: unknown, max: number): void {
    if (typeof value === 'string' && length(value) > max) this.add(path, maxLength(max));
  }

  get empty(): boolean {
    return this.count === 0;
  }

  throwIfAny(): void {
    if (this.count) fail(400, E.InvalidFormBodyOrContentType, 'Invalid Form Body', { errors: this.root });
  }
}
