/**
 * Input images (the `/video` options `image` and `last_frame`): what Veo takes, checked before anything is written or
 * paid. Veo on Vertex AI takes an image as `{gcsUri | bytesBase64Encoded, mimeType}` of at most 20 MB
 * (/work/shared/reference/veo-vertex.md §1.3, from Google's Veo 2 model page; "MB" read as 10^6 bytes, the stricter
 * reading, so nothing the bot accepts is refused by Google for its size).
 */
import type { ImageMimeType } from './request';

export const IMAGE_MAX_BYTES = 20_000_000;
export const IMAGE_MIME_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const satisfies readonly ImageMimeType[];
/** File extensions of the stored copy (and of the thumbnail attached to messages). */
export const IMAGE_EXTENSIONS: Record<ImageMimeType, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
};

export function isImageMimeType(value: string): value is ImageMimeType {
  return (IMAGE_MIME_TYPES as readonly string[]).includes(value);
}

/** What Discord says about an attachment before it is downloaded. */
export interface DeclaredImage {
  /** which option it came from, as users know it (`image`, `last_frame`) */
  option: string;
  filename: string;
  size: number;
  contentType: string | null;
}

const MB = 1_000_000;

function megabytes(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}

/** Problems visible from the attachment's declared size and type (the bytes are checked once downloaded). */
export function checkDeclaredImage(image: DeclaredImage): string[] {
  const problems: string[] = [];
  const what = `The ${image.option} (${image.filename})`;
  const declared = image.contentType?.split(';')[0]?.trim().toLowerCase() ?? null;
  if (declared && !isImageMimeType(declared)) {
    problems.push(`${what} is ${declared}; Veo takes PNG, JPEG or WebP images.`);
  }
  if (image.size > IMAGE_MAX_BYTES) {
    problems.push(`${what} is ${megabytes(image.size)}; Veo takes images up to ${megabytes(IMAGE_MAX_BYTES)}.`);
  }
  return problems;
}

/**
 * The image type the bytes really are, from their magic numbers (a renamed file or a wrong declared type is caught
 * here): PNG's 8-byte signature, JPEG's SOI marker FF D8 FF, WebP's `RIFF….WEBP` header.
 */
export function sniffImageType(bytes: Uint8Array): ImageMimeType | null {
  const starts = (offset: number, sig: readonly number[]) => sig.every((b, i) => bytes[offset + i] === b);
  if (starts(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (starts(0, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (starts(0, [0x52, 0x49, 0x46, 0x46]) && starts(8, [0x57, 0x45, 0x42, 0x50])) return 'image/webp';
  return null;
}

/** The verdict on downloaded bytes: the type they really are, or why Veo could not take them. */
export function checkImageBytes(
  image: Pick<DeclaredImage, 'option' | 'filename'>,
  bytes: Uint8Array,
): { ok: true; mimeType: ImageMimeType } | { ok: false; problem: string } {
  const what = `The ${image.option} (${image.filename})`;
  if (bytes.length > IMAGE_MAX_BYTES) {
    return { ok: false, problem: `${what} is ${megabytes(bytes.length)}; Veo takes images up to 20.0 MB.` };
  }
  const mimeType = sniffImageType(bytes);
  if (!mimeType) return { ok: false, problem: `${what} is not a PNG, JPEG or WebP image (checked by its content).` };
  return { ok: true, mimeType };
}
