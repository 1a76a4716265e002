// Embed limits: discord-api-docs developers/resources/message.mdx "Embed Limits" (title 256, description 4096, up to 25
// fields, field name 256, field value 1024, footer text 2048, author name 256; all of them across all embeds together
// 6000), measured after trimming leading/trailing whitespace ("they are trimmed automatically"). Same numbers in the
// OpenAPI spec (discord/discord-api-spec specs/openapi.json: RichEmbed, RichEmbedField, RichEmbedFooter,
// RichEmbedAuthor; RichEmbedField.required = [name, value]). Up to 10 embeds: message.mdx "Create Message" and
// MessageCreateRequest.embeds.maxItems.
import { type FormErrors, type Path, length, maxLength, required } from './formErrors';

const MAX_EMBEDS = 10;
const MAX_FIELDS = 25;
const MAX_TOTAL = 6000;
const text = (v: unknown): string => (typeof v === 'string' ? v.trim() : '');

/** A field name/value: present and non-empty after trimming, at most `max`. */
function requiredText(errors: FormErrors, path: Path, value: unknown, max: number): void {
  if (!text(value)) errors.add(path, required());
  else errors.max(path, text(value), max);
}

/** Validates `embeds` (when present) and returns nothing; errors go to `errors` under `embeds.…`. */
export function checkEmbeds(errors: FormErrors, embeds: unknown): void {
  if (embeds == null) return;
  if (!Array.isArray(embeds)) return;
  if (embeds.length > MAX_EMBEDS) {
    errors.add(['embeds'], maxLength(MAX_EMBEDS));
    return;
  }
  let total = 0;
  embeds.forEach((e: any, i) => {
    if (!e || typeof e !== 'object') return;
    const at = (...p: (string | number)[]): Path => ['embeds', i, ...p];
    errors.max(at('title'), text(e.title), 256);
    errors.max(at('description'), text(e.description), 4096);
    errors.max(at('footer', 'text'), text(e.footer?.text), 2048);
    errors.max(at('author', 'name'), text(e.author?.name), 256);
    total += [e.title, e.description, e.footer?.text, e.author?.name].reduce((n, s) => n + length(text(s)), 0);
    const fields: any[] = Array.isArray(e.fields) ? e.fields : [];
    if (fields.length > MAX_FIELDS) errors.add(at('fields'), maxLength(MAX_FIELDS));
    else
      fields.forEach((f, j) => {
        requiredText(errors, at('fields', j, 'name'), f?.name, 256);
        requiredText(errors, at('fields', j, 'value'), f?.value, 1024);
        total += length(text(f?.name)) + length(text(f?.value));
      });
  });
  // The total has its own code at `embeds`: e.g. https://github.com/NelsonDane/auto-rsa/pull/451 (the 400 body) and
  // https://github.com/harubaru/discord-stable-diffusion/issues/16 ("In embeds: Embed size exceeds maximum size of 6000").
  if (total > MAX_TOTAL)
    errors.add(['embeds'], {
      code: 'MAX_EMBED_SIZE_EXCEEDED',
      message: `Embed size exceeds maximum size of ${MAX_TOTAL}`,
    });
}
