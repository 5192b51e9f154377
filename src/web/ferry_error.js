// The one error class Ferry throws. Rust builds every instance through
// `makeFerryError`, so `instanceof FerryError` holds for all of them and
// `code` is stable across releases (messages are not).
export class FerryError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'FerryError';
    this.code = code;
  }
}

export function makeFerryError(code, message, fits) {
  const error = new FerryError(code, message);
  // STORAGE_FULL from enqueue: how many of the items, from the first, fit.
  if (fits !== undefined) error.fits = fits;
  return error;
}
