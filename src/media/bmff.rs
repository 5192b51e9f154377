//! ISO base media files (MP4, MOV, 3GP, HEIC): a sequence of boxes, each
//! a size and a four-letter type. A video's `moov` box holds its creation
//! time and duration (`mvhd`) and its location (`udta/©xyz`, or Apple's
//! `meta` keys); a HEIF image's top-level `meta` box says where its Exif
//! item lies in the file.

use super::{Location, MediaInfo, Taken, parse_degrees};

/// Seconds from 1904-01-01 (the format's epoch) to 1970-01-01.
const EPOCH_1904: u64 = 2_082_844_800;
const APPLE_LOCATION: &[u8] = b"com.apple.quicktime.location.ISO6709";

/// A box header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: [u8; 4],
    /// 8, or 16 with a 64-bit size.
    pub len: u64,
    /// The whole box, header included; `None`: it runs to the end of the file.
    pub size: Option<u64>,
}

/// The header at the start of `bytes` (16 bytes are enough).
pub fn header(bytes: &[u8]) -> Option<Header> {
    let size = be(bytes.get(..4)?);
    let kind = bytes.get(4..8)?.try_into().ok()?;
    let (len, size) = match size {
        0 => (8, None),
        1 => (16, Some(be(bytes.get(8..16)?))),
        size => (8, Some(size)),
    };
    match size {
        Some(size) if size < len => None,
        _ => Some(Header { kind, len, size }),
    }
}

/// A big-endian number of 1 to 8 bytes.
fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, &b| (n << 8) | u64::from(b))
}

/// The first child box of type `kind` in `payload`, as its payload. Boxes
/// must lie wholly inside `payload`; the walk stops at the first that does not.
pub fn child<'a>(payload: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(payload)
        .find(|(k, _)| k == kind)
        .map(|(_, body)| body)
}

/// Each child box of `payload`: its type and payload.
pub fn children(mut payload: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let header = header(payload)?;
        let size = usize::try_from(header.size.unwrap_or(payload.len() as u64)).ok()?;
        let body = payload.get(usize::try_from(header.len).ok()?..size)?;
        payload = &payload[size..];
        Some((header.kind, body))
    })
}

/// What a video's `moov` payload says.
pub fn movie(moov: &[u8]) -> MediaInfo {
    let mut info = MediaInfo::default();
    if let Some(mvhd) = child(moov, b"mvhd") {
        // version 1: 64-bit times and duration; version 0: 32-bit.
        let fields = match mvhd.first() {
            Some(1) => mvhd
                .get(4..32)
                .map(|f| (be(&f[..8]), be(&f[16..20]), be(&f[20..]))),
            Some(0) => mvhd
                .get(4..20)
                .map(|f| (be(&f[..4]), be(&f[8..12]), be(&f[12..]))),
            _ => None,
        };
        if let Some((created, timescale, duration)) = fields {
            // Zero is "not set"; a time before 1970 counted from 1970 is
            // what some writers put, and FFmpeg reads it so.
            let seconds = if created >= EPOCH_1904 {
                created - EPOCH_1904
            } else {
                created
            };
            info.taken = i64::try_from(seconds)
                .ok()
                .and_then(|s| s.checked_mul(1000))
                .filter(|_| created != 0)
                .map(|civil_ms| Taken {
                    civil_ms,
                    offset_minutes: Some(0),
                });
            // All ones is "unknown" (fragmented files).
            let known = duration != 0 && duration != u64::from(u32::MAX) && duration != u64::MAX;
            if timescale != 0 && known {
                info.duration_s = u32::try_from(duration.div_ceil(timescale)).ok();
            }
        }
    }
    info.location = child(moov, b"udta")
        .and_then(|udta| child(udta, b"\xa9xyz"))
        // A 16-bit length and a 16-bit language, then the text.
        .and_then(|xyz| iso6709(xyz.get(4..)?))
        .or_else(|| apple_location(moov));
    info
}

/// Apple's `meta` box (`keys` names, `ilst` values by key number) with
/// `com.apple.quicktime.location.ISO6709`, as iPhones write it.
fn apple_location(moov: &[u8]) -> Option<Location> {
    let meta = child(moov, b"meta")?;
    // QuickTime's `meta` is a plain box; ISO's has a version and flags first.
    let meta = if meta.get(4..8) == Some(&b"hdlr"[..]) {
        meta
    } else {
        meta.get(4..)?
    };
    let keys = child(meta, b"keys")?;
    let mut at = 8;
    let mut number = 0u32;
    loop {
        let size = usize::try_from(be(keys.get(at..at + 4)?)).ok()?;
        number += 1;
        // Size, namespace, then the name.
        if keys.get(at + 8..at.checked_add(size)?)? == APPLE_LOCATION {
            break;
        }
        at += size.max(8);
    }
    let (_, value) = children(child(meta, b"ilst")?).find(|(k, _)| be(k) == u64::from(number))?;
    // A `data` box: type and locale, then the text.
    iso6709(child(value, b"data")?.get(8..)?)
}

/// An ISO 6709 point in decimal degrees: `+37.3870-122.0830+012.000/`.
pub fn iso6709(text: &[u8]) -> Option<Location> {
    let signed = |t: &[u8]| matches!(t.first(), Some(b'+' | b'-'));
    if !signed(text) {
        return None;
    }
    let (latitude, used) = parse_degrees(text)?;
    let rest = text.get(used..)?;
    if !signed(rest) {
        return None;
    }
    Location::new(latitude, parse_degrees(rest)?.0)
}

/// Where a HEIF image keeps its Exif item, from its top-level `meta`
/// payload: (offset in the file, length). Items stored in the `meta` box
/// itself (`idat`) are not looked for: cameras and phones do not.
pub fn heif_exif(meta: &[u8]) -> Option<(u64, u64)> {
    let meta = meta.get(4..)?;
    let iinf = child(meta, b"iinf")?;
    let entries = iinf.get(if iinf.first()? == &0 { 6 } else { 8 }..)?;
    let id = children(entries).find_map(|(kind, infe)| {
        let (id, item_type) = match (&kind, *infe.first()?) {
            (b"infe", 2) => (be(infe.get(4..6)?), infe.get(8..12)?),
            (b"infe", 3) => (be(infe.get(4..8)?), infe.get(10..14)?),
            _ => return None,
        };
        (item_type == b"Exif").then_some(id)
    })?;
    let iloc = child(meta, b"iloc")?;
    let version = *iloc.first()?;
    let mut cursor = Cursor(iloc.get(4..)?);
    let sizes = cursor.take(1)?;
    let (offset_size, length_size) = (sizes >> 4, sizes & 15);
    let sizes = cursor.take(1)?;
    let index_size = if version > 0 { sizes & 15 } else { 0 };
    let wide = if version < 2 { 2 } else { 4 };
    // Every extent then takes at least 4 bytes: the walk below is bounded
    // by the box's size.
    if length_size == 0 {
        return None;
    }
    for _ in 0..cursor.take(wide)? {
        let item = cursor.take(wide)?;
        let method = if version > 0 { cursor.take(2)? & 15 } else { 0 };
        cursor.take(2)?;
        let base = cursor.take(sizes >> 4)?;
        let mut first = None;
        for _ in 0..cursor.take(2)? {
            cursor.take(index_size)?;
            let extent = (cursor.take(offset_size)?, cursor.take(length_size)?);
            first = first.or(Some(extent));
        }
        if item == id {
            let (offset, length) = first?;
            return (method == 0).then_some((base.checked_add(offset)?, length));
        }
    }
    None
}

/// Reads big-endian numbers of 0, 1, 2, 4 or 8 bytes in turn.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, size: u64) -> Option<u64> {
        if !matches!(size, 0 | 1 | 2 | 4 | 8) {
            return None;
        }
        let (number, rest) = self.0.split_at_checked(usize::try_from(size).ok()?)?;
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

    /// An `mvhd` payload: version 0 or 1, creation time, timescale, duration.
    pub fn mvhd(version: u8, created: u64, timescale: u32, duration: u64) -> Vec<u8> {
        let mut out = vec![version, 0, 0, 0];
        if version == 1 {
            out.extend(created.to_be_bytes());
            out.extend(created.to_be_bytes());
            out.extend(timescale.to_be_bytes());
            out.extend(duration.to_be_bytes());
        } else {
            out.extend((created as u32).to_be_bytes());
            out.extend((created as u32).to_be_bytes());
            out.extend(timescale.to_be_bytes());
            out.extend((duration as u32).to_be_bytes());
        }
        out.extend([0; 80]);
        boxed(b"mvhd", &out)
    }

    pub fn xyz(text: &str) -> Vec<u8> {
        let mut payload = (text.len() as u16).to_be_bytes().to_vec();
        payload.extend([0x15, 0xC7]);
        payload.extend(text.as_bytes());
        boxed(b"udta", &boxed(b"\xa9xyz", &payload))
    }

    /// 2023-07-14 16:30:15 UTC, counted from 1904.
    pub const CREATED: u64 = 1_689_352_215 + EPOCH_1904;

    #[test]
    fn box_headers_of_every_size_form() {
        assert_eq!(
            header(b"\0\0\0\x20ftypisom"),
            Some(Header {
                kind: *b"ftyp",
                len: 8,
                size: Some(32)
            })
        );
        let mut large = b"\0\0\0\x01mdat".to_vec();
        large.extend((5u64 << 32).to_be_bytes());
        assert_eq!(
            header(&large),
            Some(Header {
                kind: *b"mdat",
                len: 16,
                size: Some(5 << 32)
            })
        );
        assert_eq!(header(b"\0\0\0\0mdat").map(|h| h.size), Some(None));
        // Smaller than its own header; a 64-bit size cut short.
        assert_eq!(header(b"\0\0\0\x07free"), None);
        assert_eq!(header(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x0f"), None);
        assert_eq!(header(b"\0\0\0\x01mdat\0\0"), None);
        assert_eq!(header(b"\0\0\0"), None);
    }

    #[test]
    fn reads_creation_time_duration_and_location_of_a_movie() {
        for version in [0, 1] {
            let mut moov = mvhd(version, CREATED, 600, 600 * 12 + 1);
            moov.extend(xyz("+48.8582+002.2945+035.000/"));
            let info = movie(&moov);
            assert_eq!(
                info.taken,
                Some(Taken {
                    civil_ms: 1_689_352_215_000,
                    offset_minutes: Some(0)
                })
            );
            // 12 s and a fraction: 13, rounded up as Ente does.
            assert_eq!(info.duration_s, Some(13));
            assert_eq!(
                info.location,
                Some(Location {
                    latitude: 48_858_200,
                    longitude: 2_294_500
                })
            );
        }
        // Not set, unknown duration, no location.
        let info = movie(&mvhd(0, 0, 1000, u64::from(u32::MAX)));
        assert_eq!(info, MediaInfo::default());
        let info = movie(&mvhd(1, 0, 0, 5));
        assert_eq!(info, MediaInfo::default());
        // A writer that counted from 1970.
        assert_eq!(
            movie(&mvhd(0, 1_600_000_000, 1, 1))
                .taken
                .map(|t| t.civil_ms),
            Some(1_600_000_000_000)
        );
    }

    #[test]
    fn reads_apple_location_keys() {
        let mut keys = vec![0, 0, 0, 0, 0, 0, 0, 2];
        for name in [&b"com.apple.quicktime.make"[..], APPLE_LOCATION] {
            keys.extend(((name.len() + 8) as u32).to_be_bytes());
            keys.extend(b"mdta");
            keys.extend(name);
        }
        let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
        data.extend(b"-33.8568+151.2153+005.000/");
        let mut ilst = boxed(
            &1u32.to_be_bytes(),
            &boxed(b"data", b"\0\0\0\x01\0\0\0\0Apple"),
        );
        ilst.extend(boxed(&2u32.to_be_bytes(), &boxed(b"data", &data)));
        let mut meta = boxed(b"hdlr", &[0; 25]);
        meta.extend(boxed(b"keys", &keys));
        meta.extend(boxed(b"ilst", &ilst));
        let mut moov = mvhd(0, CREATED, 600, 600);
        moov.extend(boxed(b"meta", &meta));
        let expected = Some(Location {
            latitude: -33_856_800,
            longitude: 151_215_300,
        });
        assert_eq!(movie(&moov).location, expected);
        // The ISO form of `meta`, with version and flags.
        let mut iso = vec![0; 4];
        iso.extend(&meta);
        let mut moov = mvhd(0, CREATED, 600, 600);
        moov.extend(boxed(b"meta", &iso));
        assert_eq!(movie(&moov).location, expected);
        // A key with a size of 0 cannot loop.
        let mut bad = keys.clone();
        bad[8..12].copy_from_slice(&[0; 4]);
        let mut meta = boxed(b"hdlr", &[0; 25]);
        meta.extend(boxed(b"keys", &bad));
        let mut moov = mvhd(0, CREATED, 600, 600);
        moov.extend(boxed(b"meta", &meta));
        assert_eq!(movie(&moov).location, None);
    }

    #[test]
    fn iso6709_needs_signed_decimal_degrees() {
        assert_eq!(
            iso6709(b"-90.0000+180.0000/"),
            Some(Location {
                latitude: -90_000_000,
                longitude: 180_000_000
            })
        );
        assert_eq!(iso6709(b"48.85+002.29/"), None);
        assert_eq!(iso6709(b"+48.85002.29/"), None);
        assert_eq!(iso6709(b"+4851.49+00217.67/"), None);
        assert_eq!(iso6709(b"+91.0+000.0/"), None);
        assert_eq!(iso6709(b"+00.0000+000.0000/"), None);
        assert_eq!(iso6709(b""), None);
    }

    /// A HEIF `meta` payload with an Exif item `id` at `offset`/`length`,
    /// and a picture item before it.
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
        // No Exif item; stored in `idat` (construction method 1).
        let mut meta = heif_meta(1, 2500, 1234);
        let at = meta.windows(4).position(|w| w == b"Exif").unwrap();
        meta[at..at + 4].copy_from_slice(b"mime");
        assert_eq!(heif_exif(&meta), None);
        let mut meta = heif_meta(1, 2500, 1234);
        let iloc = meta.windows(4).position(|w| w == b"iloc").unwrap() + 4;
        // The second item's construction method.
        let second = iloc + 4 + 2 + 2 + 20 + 2 + 1;
        meta[second] = 1;
        assert_eq!(heif_exif(&meta), None);
    }

    #[test]
    fn truncated_and_garbage_boxes_never_panic() {
        let mut moov = mvhd(1, CREATED, 600, 6000);
        moov.extend(xyz("+48.8582+002.2945/"));
        let meta = heif_meta(1, 2500, 1234);
        for len in 0..moov.len() {
            let _ = movie(&moov[..len]);
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
        // Boxes claiming 4 GiB, and all-ones sizes in an iloc.
        let _ = movie(b"\xff\xff\xff\xffmvhd\x01");
        let mut iloc = vec![0; 4];
        iloc.extend(boxed(
            b"iloc",
            &[2, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        ));
        assert_eq!(heif_exif(&iloc), None);
    }
}
