// Thumbnails made on the device: decode with createImageBitmap (scaled so
// the longer side is at most `maxSide`), draw on an OffscreenCanvas, and
// encode JPEG at falling quality until it fits `maxBytes`. Works in pages,
// workers and service workers alike; resolves null where either API is
// missing or the image does not decode (videos, HEIC in Chromium), so the
// engine sends its placeholder instead.
export async function makeThumbnail(blob, maxSide, maxBytes) {
  if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas !== 'function') return null;
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    return null;
  }
  try {
    const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d');
    if (!context) return null;
    context.drawImage(bitmap, 0, 0, width, height);
    for (const quality of [0.8, 0.65, 0.5, 0.35, 0.2]) {
      const jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality });
      if (jpeg.size <= maxBytes) return new Uint8Array(await jpeg.arrayBuffer());
    }
    return null;
  } catch {
    return null;
  } finally {
    bitmap.close();
  }
}
