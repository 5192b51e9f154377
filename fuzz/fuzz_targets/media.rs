//! The metadata readers that run over the user's own files (JPEG and TIFF
//! Exif, MP4/MOV `moov`, HEIC `meta` and its Exif item), through the walk
//! the engine drives: the first byte says whether the file is reported
//! larger than the bytes it holds (a file cut short under the reader);
//! the rest is the file. Every read the walk asks for must start within
//! the size it was given and be no larger than a box may be, and the walk
//! must end after a few reads. Each reader also gets the bytes directly.
#![no_main]

use ferry_fuzz::Input;
use ferry_sync::media::{self, HEAD_BYTES, MAX_BOX_BYTES, Walk, bmff, exif};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.u8();
    let extra = if flags & 1 == 1 {
        u64::from(input.u16())
    } else {
        0
    };
    let file = input.rest();
    let size = file.len() as u64 + extra;

    let read = |at: u64, len: u64| -> &[u8] {
        let start = usize::try_from(at).unwrap_or(usize::MAX).min(file.len());
        let end = usize::try_from(at.saturating_add(len))
            .unwrap_or(usize::MAX)
            .min(file.len());
        &file[start..end]
    };
    let head = read(0, size.min(HEAD_BYTES));
    let mut walk = Walk::new(size);
    let mut want = walk.feed(head, head);
    let mut reads = 0;
    while let Some((at, len)) = want {
        reads += 1;
        assert!(reads <= 64, "the walk keeps asking: {walk:?}");
        // Reads lie inside the file: a box that says it runs past the end
        // is read as far as the file goes.
        assert!(at < size, "a read starts past the end");
        assert!(at + len <= size, "a read runs past the end");
        assert!(len <= MAX_BOX_BYTES, "a read larger than a box may be");
        want = walk.feed(head, read(at, len));
    }

    let _ = media::read(file);
    let _ = exif::parse(file);
    let _ = exif::heif_item(file);
    if let Some(tiff) = exif::jpeg_tiff(file) {
        let _ = exif::parse(tiff);
    }
    let _ = bmff::is_boxes(file);
    let _ = bmff::header(file, size);
    let _ = bmff::movie(file);
    if let Some((at, len)) = bmff::heif_exif(file) {
        let _ = at.checked_add(len);
    }
});
