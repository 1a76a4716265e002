/**
 * Small real images for tests: a 1×1 PNG, JPEG and WebP (valid files any decoder opens), optionally padded with
 * trailing bytes (ignored by decoders) to reach a size.
 */
const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const JPEG_1X1 =
  '/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=';
const WEBP_1X1 = 'UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==';

function padded(base64: string, size?: number): Buffer {
  const image = Buffer.from(base64, 'base64');
  return size === undefined || size <= image.length ? image : Buffer.concat([image, Buffer.alloc(size - image.length)]);
}

export const pngBytes = (size?: number): Buffer => padded(PNG_1X1, size);
export const jpegBytes = (size?: number): Buffer => padded(JPEG_1X1, size);
export const webpBytes = (size?: number): Buffer => padded(WEBP_1X1, size);
/** A GIF: an image, but not one Veo takes. */
export const gifBytes = (): Buffer => Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
