//! ISO base media files (MP4, MOV, HEIC): a sequence of boxes, each a size
//! and a four-letter type. A video's `moov` box holds its creation time and
//! duration (`mvhd`); a HEIF image's top-level `meta` box says where in the
//! file its Exif item lies.

use super::{MediaInfo, Taken};

/// Seconds from 1904-01-01 (the format's epoch) to 1970-01-01.
const EPOCH_1904: u64 = 2_082_844_800;

/// A four-letter type as a number: compared in one instruction.
pub const fn fourcc(kind: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*kind)
}

/// Whether `head` starts with a box: `ftyp`, or one of those old QuickTime
/// files may begin with instead.
pub fn is_boxes(head: &[u8]) -> bool {
    const FIRST: [u32; 6] = [
        fourcc(b"ftyp"),
        fourcc(b"moov"),
        fourcc(b"mdat"),
        fourcc(b"wide"),
        fourcc(b"free"),
        fourcc(b"skip"),
    ];
    kind(head).is_some_and(|kind| FIRST.contains(&kind))
}

/// The type of the box at the start of `bytes`.
fn kind(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?))
}

/// The box header at the start of `bytes` (16 bytes are enough): its type,
/// its header's length (8, or 16 with a 64-bit size) and the whole box's
/// size. A size of 0 means it runs to the end: `rest` bytes.
pub fn header(bytes: &[u8], rest: u64) -> Option<(u32, u64, u64)> {
    let kind = kind(bytes)?;
    let (len, size) = match be(bytes.get(..4)?) {
        0 => (8, rest),
        1 => (16, be(bytes.get(8..16)?)),
        size => (8, size),
    };
    (size >= len).then_some((kind, len, size))
}

/// A big-endian number of at most 8 bytes.
fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, &b| (n << 8) | u64::from(b))
}

/// The first box of type `kind` in `payload`: its payload, and the boxes
/// after it. The walk stops at the first box that does not lie wholly
/// inside `payload`.
fn find(mut payload: &[u8], kind: u32) -> Option<(&[u8], &[u8])> {
    loop {
        let (found, len, size) = header(payload, payload.len() as u64)?;
        let (this, rest) = payload.split_at_checked(usize::try_from(size).ok()?)?;
        if found == kind {
            return Some((this.get(usize::try_from(len).ok()?..)?, rest));
        }
        payload = rest;
    }
}

/// The creation time and duration in a video's `moov` payload.
pub fn movie(moov: &[u8]) -> MediaInfo {
    let Some((created, timescale, duration)) = mvhd(moov) else {
        return MediaInfo::default();
    };
    // Zero is "not set". A time before 1970 counted from 1904 is what
    // writers that count from 1970 leave, and FFmpeg reads it so.
    let seconds = created.checked_sub(EPOCH_1904).unwrap_or(created);
    // Whole seconds rounded up, as Ente's clients write it; all ones is
    // "unknown" (fragmented files), and zero is no duration.
    let known = timescale != 0 && duration != u64::from(u32::MAX) && duration != u64::MAX;
    MediaInfo {
        // At most 2^40 s (some 35,000 years): the product fits.
        taken: (created != 0 && seconds < 1 << 40).then(|| Taken {
            civil_ms: seconds as i64 * 1000,
            offset_minutes: Some(0),
        }),
        location: None,
        duration_s: if known {
            u32::try_from(duration.div_ceil(timescale))
                .ok()
                .filter(|&s| s != 0)
        } else {
            None
        },
    }
}

/// An `mvhd`'s creation time, timescale and duration.
fn mvhd(moov: &[u8]) -> Option<(u64, u64, u64)> {
    let mut mvhd = Cursor(find(moov, fourcc(b"mvhd"))?.0);
    // Version 1 has 64-bit times and duration, version 0 32-bit ones:
    // version and flags, creation and modification times, a 32-bit
    // timescale, the duration.
    let wide = match mvhd.take(4)? >> 24 {
        0 => 4,
        1 => 8,
        _ => return None,
    };
    let created = mvhd.take(wide)?;
    mvhd.take(wide)?;
    Some((created, mvhd.take(4)?, mvhd.take(wide)?))
}

/// Where a HEIF image keeps its Exif item, from its top-level `meta`
/// payload: (offset in the file, length). Items stored in the `meta` box
/// itself (`idat`) are not looked for: cameras and phones do not put Exif
/// there.
pub fn heif_exif(meta: &[u8]) -> Option<(u64, u64)> {
    // `meta`, `iinf`, `infe` and `iloc` are full boxes: version and flags
    // first.
    let meta = meta.get(4..)?;
    let iinf = find(meta, fourcc(b"iinf"))?.0;
    // The entry count: 16 bits in version 0, else 32.
    let mut entries = iinf.get(if *iinf.first()? == 0 { 6 } else { 8 }..)?;
    let id = loop {
        let (infe, rest) = find(entries, fourcc(b"infe"))?;
        entries = rest;
        // Versions 2 and 3: a 16- or 32-bit item id, a 16-bit protection
        // index, then the item type.
        let mut infe = Cursor(infe);
        let version = infe.take(4)? >> 24;
        if version == 2 || version == 3 {
            let id = infe.take(2 * version - 2)?;
            infe.take(2)?;
            if infe.take(4)? == u64::from(fourcc(b"Exif")) {
                break id;
            }
        }
    };
    let mut iloc = Cursor(find(meta, fourcc(b"iloc"))?.0);
    let version = iloc.take(4)? >> 24;
    // Four 4-bit sizes: offset, length, base offset, and (from version 1)
    // extent index.
    let sizes = iloc.take(2)?;
    let size = |shift: u64| (sizes >> shift) & 15;
    let index_size = if version > 0 { size(0) } else { 0 };
    let wide = if version < 2 { 2 } else { 4 };
    // Every extent takes at least one byte then: the walk is bounded by
    // the box's size.
    if size(8) == 0 {
        return None;
    }
    for _ in 0..iloc.take(wide)? {
        let item = iloc.take(wide)?;
        // The construction method: 0 is an offset in the file.
        let method = if version > 0 { iloc.take(2)? & 15 } else { 0 };
        iloc.take(2)?;
        let base = iloc.take(size(4))?;
        let mut first = None;
        for _ in 0..iloc.take(2)? {
            iloc.take(index_size)?;
            let extent = (iloc.take(size(12))?, iloc.take(size(8))?);
            first = first.or(Some(extent));
        }
        if item == id {
            let (offset, length) = first?;
            return (method == 0).then_some((base.checked_add(offset)?, length));
        }
    }
    None
}

/// Reads big-endian numbers of at most 8 bytes in turn.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, len: u64) -> Option<u64> {
        if len > 8 {
            return None;
        }
        let (number, rest) = self.0.split_at_checked(usize::try_from(len).ok()?)?;
        self.0 = rest;
        Some(be(number))
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
pub(crate) mod tests {
    use super::*;

    pub fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend(kind);
        out.extend(payload);
        out
    }

    /// An `mvhd` box: version 0 or 1, creation time, timescale, duration.
    pub fn mvhd(version: u8, created: u64, timescale: u32, duration: u64) -> Vec<u8> {
        let mut out = vec![version, 0, 0, 0];
        if version == 1 {
            out.extend(created.to_be_bytes());
            out.extend((created + 1).to_be_bytes());
            out.extend(timescale.to_be_bytes());
            out.extend(duration.to_be_bytes());
        } else {
            out.extend((created as u32).to_be_bytes());
            out.extend((created as u32 + 1).to_be_bytes());
            out.extend(timescale.to_be_bytes());
            out.extend((duration as u32).to_be_bytes());
        }
        out.extend([0; 80]);
        boxed(b"mvhd", &out)
    }

    /// 2023-07-14 16:30:15 UTC, counted from 1904.
    pub const CREATED: u64 = 1_689_352_215 + EPOCH_1904;

    pub const CREATED_TAKEN: Taken = Taken {
        civil_ms: 1_689_352_215_000,
        offset_minutes: Some(0),
    };

    #[test]
    fn box_headers_of_every_size_form() {
        let ftyp = fourcc(b"ftyp");
        assert_eq!(header(b"\0\0\0\x20ftypisom", 100), Some((ftyp, 8, 32)));
        let mdat = fourcc(b"mdat");
        let mut large = b"\0\0\0\x01mdat".to_vec();
        large.extend((5u64 << 32).to_be_bytes());
        assert_eq!(header(&large, 100), Some((mdat, 16, 5 << 32)));
        // Size 0: to the end of what holds it.
        assert_eq!(header(b"\0\0\0\0mdat", 100), Some((mdat, 8, 100)));
        assert_eq!(header(b"\0\0\0\0mdat", 7), None);
        // Smaller than its own header; a 64-bit size cut short or too small.
        assert_eq!(header(b"\0\0\0\x07free", 100), None);
        assert_eq!(header(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x0f", 100), None);
        assert_eq!(header(b"\0\0\0\x01mdat\0\0", 100), None);
        assert_eq!(header(b"\0\0\0", 100), None);
    }

    #[test]
    fn files_made_of_boxes_are_told_by_their_first_box() {
        assert!(is_boxes(b"\0\0\0\x18ftypheic"));
        assert!(is_boxes(b"\0\0\0\x08wide"));
        assert!(is_boxes(b"\0\0\x10\0mdat"));
        assert!(!is_boxes(b"\0\0\0\x18typheic"));
        assert!(!is_boxes(b"\xff\xd8\xff\xe1\0\0Exif"));
        assert!(!is_boxes(b"\0\0\0\x18fty"));
    }

    #[test]
    fn child_boxes_are_found_in_order_and_must_fit() {
        let mvhd = fourcc(b"mvhd");
        let mut payload = boxed(b"free", b"abc");
        payload.extend(boxed(b"mvhd", b"first"));
        payload.extend(boxed(b"mvhd", b"second"));
        let (first, rest) = find(&payload, mvhd).unwrap();
        assert_eq!(first, b"first");
        assert_eq!(find(rest, mvhd), Some((&b"second"[..], &b""[..])));
        assert_eq!(find(&payload, fourcc(b"trak")), None);
        // A box that runs past its parent ends the walk.
        let mut past = boxed(b"free", b"");
        past.extend(b"\0\0\0\x40mvhd");
        assert_eq!(find(&past, mvhd), None);
        // Size 0: the rest of the parent.
        let mut rest = boxed(b"free", b"");
        rest.extend(b"\0\0\0\0mvhdtail");
        assert_eq!(find(&rest, mvhd), Some((&b"tail"[..], &b""[..])));
    }

    #[test]
    fn reads_creation_time_and_duration_of_a_movie() {
        for version in [0, 1] {
            let mut moov = boxed(b"free", &[0; 20]);
            moov.extend(mvhd(version, CREATED, 600, 600 * 12 + 1));
            let info = movie(&moov);
            assert_eq!(info.taken, Some(CREATED_TAKEN), "version {version}");
            // 12 s and a fraction: 13, rounded up as Ente does.
            assert_eq!(info.duration_s, Some(13));
            assert_eq!(info.location, None);
        }
        let exactly = movie(&mvhd(1, CREATED, 90_000, 90_000 * 61));
        assert_eq!(exactly.duration_s, Some(61));
        // Not set, unknown duration, no timescale, zero duration.
        let info = movie(&mvhd(0, 0, 1000, u64::from(u32::MAX)));
        assert_eq!(info, MediaInfo::default());
        assert_eq!(movie(&mvhd(1, 0, 1000, u64::MAX)), MediaInfo::default());
        assert_eq!(movie(&mvhd(1, 0, 0, 5)), MediaInfo::default());
        assert_eq!(movie(&mvhd(0, 0, 600, 0)), MediaInfo::default());
        // A time no calendar holds is no time; the duration stands.
        let far = movie(&mvhd(1, u64::MAX - 1, 600, 600));
        assert_eq!((far.taken, far.duration_s), (None, Some(1)));
        // A writer that counted from 1970.
        assert_eq!(
            movie(&mvhd(0, 1_600_000_000, 1, 1))
                .taken
                .map(|t| t.civil_ms),
            Some(1_600_000_000_000)
        );
        // An unknown version, a header cut short, no `mvhd`.
        let mut v2 = mvhd(0, CREATED, 600, 600);
        v2[8] = 2;
        assert_eq!(movie(&v2), MediaInfo::default());
        assert_eq!(
            movie(&boxed(b"mvhd", &[1, 0, 0, 0, 0])),
            MediaInfo::default()
        );
        assert_eq!(movie(&boxed(b"trak", &[0; 100])), MediaInfo::default());
    }

    /// A HEIF `meta` payload with an Exif item at `offset`/`length`, a
    /// picture item before it, and `iloc` of `version`.
    pub fn heif_meta(version: u8, offset: u64, length: u64) -> Vec<u8> {
        let infe = |id: u16, kind: &[u8; 4]| {
            let mut p = vec![2, 0, 0, 0];
            p.extend(id.to_be_bytes());
            p.extend([0, 0]);
            p.extend(kind);
            boxed(b"infe", &p)
        };
        let mut iinf = vec![0, 0, 0, 0, 0, 2];
        iinf.extend(infe(1, b"hvc1"));
        iinf.extend(infe(7, b"Exif"));
        // Offsets and lengths of 4 bytes, base offsets of 4, no index.
        let mut iloc = vec![version, 0, 0, 0, 0x44, 0x40];
        let wide = |n: u32, out: &mut Vec<u8>| {
            if version < 2 {
                out.extend((n as u16).to_be_bytes());
            } else {
                out.extend(n.to_be_bytes());
            }
        };
        wide(2, &mut iloc);
        for (id, off, len) in [(1u32, 4000u64, 90_000u64), (7, offset, length)] {
            wide(id, &mut iloc);
            if version > 0 {
                iloc.extend([0, 0]);
            }
            iloc.extend([0, 0]);
            // A base offset of 1000.
            iloc.extend(1000u32.to_be_bytes());
            iloc.extend(1u16.to_be_bytes());
            iloc.extend(((off - 1000) as u32).to_be_bytes());
            iloc.extend((len as u32).to_be_bytes());
        }
        let mut meta = vec![0; 4];
        meta.extend(boxed(b"hdlr", &[0; 25]));
        meta.extend(boxed(b"iinf", &iinf));
        meta.extend(boxed(b"iloc", &iloc));
        meta
    }

    #[test]
    fn finds_where_a_heif_keeps_its_exif() {
        for version in [0, 1, 2] {
            assert_eq!(
                heif_exif(&heif_meta(version, 2500, 1234)),
                Some((2500, 1234)),
                "version {version}"
            );
        }
        // Version 3 `infe`: a 32-bit item id.
        let mut meta = heif_meta(1, 2500, 1234);
        let iinf = meta.windows(4).position(|w| w == b"iinf").unwrap();
        let mut v3 = vec![3, 0, 0, 0, 0, 0, 0, 7, 0, 0];
        v3.extend(b"Exif");
        let v3 = boxed(b"infe", &v3);
        let second = iinf + 4 + 6 + 20;
        meta.splice(second..second + 20, v3.clone());
        let iinf_size = u32::from_be_bytes(meta[iinf - 4..iinf].try_into().unwrap()) + 2;
        meta[iinf - 4..iinf].copy_from_slice(&iinf_size.to_be_bytes());
        assert_eq!(heif_exif(&meta), Some((2500, 1234)));
        // No Exif item.
        let mut meta = heif_meta(1, 2500, 1234);
        let at = meta.windows(4).position(|w| w == b"Exif").unwrap();
        meta[at..at + 4].copy_from_slice(b"mime");
        assert_eq!(heif_exif(&meta), None);
        // Stored in `idat` (construction method 1).
        let mut meta = heif_meta(1, 2500, 1234);
        let iloc = meta.windows(4).position(|w| w == b"iloc").unwrap() + 4;
        // The second item's construction method.
        let second = iloc + 4 + 2 + 2 + 20 + 2 + 1;
        meta[second] = 1;
        assert_eq!(heif_exif(&meta), None);
        // Lengths of no bytes: refused rather than walked.
        let mut meta = heif_meta(1, 2500, 1234);
        meta[iloc + 4] = 0x40;
        assert_eq!(heif_exif(&meta), None);
    }

    #[test]
    fn truncated_and_garbage_boxes_never_panic() {
        let mut moov = boxed(b"free", &[1, 2, 3]);
        moov.extend(mvhd(1, CREATED, 600, 6000));
        let meta = heif_meta(1, 2500, 1234);
        for len in 0..moov.len() {
            let info = movie(&moov[..len]);
            assert!(
                info == MediaInfo::default() || info == movie(&moov),
                "{len}"
            );
        }
        for len in 0..meta.len() {
            assert!(matches!(heif_exif(&meta[..len]), None | Some((2500, 1234))));
        }
        for (i, flip) in (0..meta.len()).flat_map(|i| [(i, 0xFF), (i, 0x80), (i, 0x01)]) {
            let mut bad = meta.clone();
            bad[i] ^= flip;
            let _ = heif_exif(&bad);
            let mut bad = moov.clone();
            if i < bad.len() {
                bad[i] ^= flip;
                let _ = movie(&bad);
            }
        }
        // Boxes claiming 4 GiB or 2^64 bytes, and all-ones sizes in an iloc.
        let _ = movie(b"\xff\xff\xff\xffmvhd\x01");
        let _ = movie(b"\0\0\0\x01mvhd\xff\xff\xff\xff\xff\xff\xff\xff\x01");
        let mut iloc = vec![0; 4];
        iloc.extend(boxed(
            b"iloc",
            &[2, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        ));
        assert_eq!(heif_exif(&iloc), None);
        // 65,535 items of 65,535 extents each, in a box of a few bytes.
        let mut many = heif_meta(0, 2500, 1234);
        let iloc = many.windows(4).position(|w| w == b"iloc").unwrap() - 4;
        many.truncate(iloc);
        many.extend(boxed(
            b"iloc",
            &[0, 0, 0, 0, 0x11, 0, 0xFF, 0xFF, 0, 7, 0, 0, 0xFF, 0xFF, 1],
        ));
        assert_eq!(heif_exif(&many), None);
    }
}
