//! Exif: a TIFF structure of tagged fields, found in a JPEG's APP1 segment,
//! in a HEIF `Exif` item, or as the file itself (TIFF-based raw formats).
//!
//! The date is the first valid of `DateTimeOriginal`, `DateTimeDigitized`
//! and `DateTime`, each with its `SubSecTime*` and `OffsetTime*`, the order
//! Ente's web client takes them in (which also reads XMP and IPTC first;
//! those are not read here). The place is GPS latitude and longitude.

use super::{Location, MediaInfo, Taken, civil_ms, digits};

const EXIF_IFD: u16 = 0x8769;
const GPS_IFD: u16 = 0x8825;
const DATE_TIME: u16 = 0x0132;
/// (date, sub-seconds, offset) tags in the Exif IFD, best first.
const EXIF_DATES: [(u16, u16, u16); 2] = [(0x9003, 0x9291, 0x9011), (0x9004, 0x9292, 0x9012)];
const SUB_SEC_TIME: u16 = 0x9290;
const OFFSET_TIME: u16 = 0x9010;

const ASCII: u16 = 2;
const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;
const IFD: u16 = 13;

/// The TIFF bytes of the first Exif APP1 segment of a JPEG, cut short
/// where `jpeg` ends (the fields read from it are checked one by one).
pub fn jpeg_tiff(jpeg: &[u8]) -> Option<&[u8]> {
    if jpeg.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut at = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while jpeg.get(at..at + 2)? == [0xFF, 0xFF] {
            at += 1;
        }
        if *jpeg.get(at)? != 0xFF {
            return None;
        }
        let marker = *jpeg.get(at + 1)?;
        at += 2;
        match marker {
            // Markers without a length.
            0x01 | 0xD0..=0xD8 => continue,
            // The image data or the end: no Exif before it.
            0xD9 | 0xDA => return None,
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([*jpeg.get(at)?, *jpeg.get(at + 1)?]));
        if len < 2 {
            return None;
        }
        let segment = &jpeg[(at + 2).min(jpeg.len())..(at + len).min(jpeg.len())];
        if marker == 0xE1 && segment.starts_with(b"Exif\0\0") {
            return Some(&segment[6..]);
        }
        at += len;
    }
}

/// The Exif of a HEIF `Exif` item: a 4-byte offset to the TIFF header
/// (which usually skips an `Exif\0\0` prefix), then the TIFF bytes.
pub fn heif_item(item: &[u8]) -> MediaInfo {
    let tiff = item.get(..4).and_then(|skip| {
        let skip = u32::from_be_bytes(skip.try_into().ok()?);
        item.get(usize::try_from(skip).ok()?.checked_add(4)?..)
    });
    parse(tiff.unwrap_or_default())
}

/// The date and place of a TIFF structure.
pub fn parse(tiff: &[u8]) -> MediaInfo {
    let Some(tiff) = Tiff::new(tiff) else {
        return MediaInfo::default();
    };
    let ifd0 = tiff.u32(4);
    let exif = ifd0.and_then(|ifd| tiff.pointer(ifd, EXIF_IFD));
    let dated = |ifd: Option<usize>, tags: (u16, u16, u16)| {
        date(
            tiff.ascii(ifd?, tags.0)?,
            exif.and_then(|e| tiff.ascii(e, tags.1)),
            exif.and_then(|e| tiff.ascii(e, tags.2)),
        )
    };
    let taken = EXIF_DATES
        .iter()
        .find_map(|&tags| dated(exif, tags))
        .or_else(|| dated(ifd0, (DATE_TIME, SUB_SEC_TIME, OFFSET_TIME)));
    let location = ifd0
        .and_then(|ifd| tiff.pointer(ifd, GPS_IFD))
        .and_then(|gps| Location::new(tiff.degrees(gps, 2)?, tiff.degrees(gps, 4)?));
    MediaInfo {
        taken,
        location,
        duration_s: None,
    }
}

/// `YYYY:MM:DD HH:MM:SS`, with optional sub-second digits and a `±HH:MM`
/// offset. Dates that are blank, zero, or the bogus `4501:01:01 00:00:00`
/// some devices write are no dates.
fn date(text: &[u8], sub_sec: Option<&[u8]>, offset: Option<&[u8]>) -> Option<Taken> {
    // Year at 0, then two digits at 5, 8, 11, 14, 17.
    let mut fields = [0; 6];
    for (i, field) in fields.iter_mut().enumerate() {
        let (at, len) = if i == 0 { (0, 4) } else { (2 + 3 * i, 2) };
        *field = digits(text.get(at..at + len)?)?;
    }
    if fields == [4501, 1, 1, 0, 0, 0] {
        return None;
    }
    // Milliseconds, as a JavaScript date keeps them: ".5" is 500.
    let mut ms = 0;
    let mut scale = 100;
    for &c in sub_sec.unwrap_or_default().iter().take(3) {
        if !c.is_ascii_digit() {
            break;
        }
        ms += u32::from(c - b'0') * scale;
        scale /= 10;
    }
    let civil_ms = civil_ms(fields, ms)?;
    let offset_minutes = offset.and_then(|o| {
        let sign = match o.first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (hours, minutes) = (digits(o.get(1..3)?)?, digits(o.get(4..6)?)?);
        (o.get(3) == Some(&b':') && hours <= 14 && minutes <= 59)
            .then(|| sign * (hours * 60 + minutes) as i32)
    });
    Some(Taken {
        civil_ms,
        offset_minutes,
    })
}

/// A TIFF structure and its byte order.
struct Tiff<'a> {
    data: &'a [u8],
    big_endian: bool,
}

/// An IFD entry: its type, its count, and where its 4-byte value field is.
#[derive(Clone, Copy)]
struct Entry {
    kind: u16,
    count: u32,
    field: usize,
}

impl<'a> Tiff<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        let big_endian = match data.get(..4)? {
            [b'I', b'I', 42, 0] => false,
            [b'M', b'M', 0, 42] => true,
            _ => return None,
        };
        Some(Self { data, big_endian })
    }

    /// An unsigned number of `len` bytes at `at`, in the file's byte order.
    fn int(&self, at: usize, len: usize) -> Option<usize> {
        let bytes = self.data.get(at..at.checked_add(len)?)?;
        let fold = |n: usize, b: &u8| (n << 8) | usize::from(*b);
        Some(if self.big_endian {
            bytes.iter().fold(0, fold)
        } else {
            bytes.iter().rev().fold(0, fold)
        })
    }

    fn u16(&self, at: usize) -> Option<usize> {
        self.int(at, 2)
    }

    fn u32(&self, at: usize) -> Option<usize> {
        self.int(at, 4)
    }

    /// The entry for `tag` in the IFD at `ifd`.
    fn entry(&self, ifd: usize, tag: u16) -> Option<Entry> {
        let count = self.u16(ifd)?;
        (0..count).find_map(|i| {
            let at = ifd + 2 + 12 * i;
            (self.u16(at)? == usize::from(tag)).then_some(())?;
            Some(Entry {
                kind: u16::try_from(self.u16(at + 2)?).ok()?,
                count: u32::try_from(self.u32(at + 4)?).ok()?,
                field: at + 8,
            })
        })
    }

    /// The bytes of an entry's value: in its field when they fit, else
    /// where the field points.
    fn value(&self, entry: Entry, unit: usize) -> Option<&'a [u8]> {
        let len = usize::try_from(entry.count).ok()?.checked_mul(unit)?;
        let at = if len <= 4 {
            entry.field
        } else {
            self.u32(entry.field)?
        };
        self.data.get(at..at.checked_add(len)?)
    }

    /// The offset of the sub-IFD `tag` points to.
    fn pointer(&self, ifd: usize, tag: u16) -> Option<usize> {
        let entry = self.entry(ifd, tag)?;
        match entry.kind {
            SHORT => self.u16(entry.field),
            LONG | IFD => self.u32(entry.field),
            _ => None,
        }
    }

    /// An ASCII value up to its first NUL.
    fn ascii(&self, ifd: usize, tag: u16) -> Option<&'a [u8]> {
        let entry = self.entry(ifd, tag).filter(|e| e.kind == ASCII)?;
        let text = self.value(entry, 1)?;
        Some(text.split(|&c| c == 0).next().unwrap_or(text))
    }

    /// A GPS coordinate: degrees, minutes and seconds as rationals at `tag`,
    /// south or west (the reference at `tag - 1`) negative, in millionths.
    fn degrees(&self, gps: usize, tag: u16) -> Option<i32> {
        let entry = self.entry(gps, tag).filter(|e| e.kind == RATIONAL)?;
        let parts = self.value(entry, 8)?;
        let mut degrees = 0.0;
        let tiff = Tiff {
            data: parts,
            big_endian: self.big_endian,
        };
        for i in 0..parts.len().min(24) / 8 {
            let (num, den) = (tiff.u32(8 * i)?, tiff.u32(8 * i + 4)?);
            // 0/0 is what some writers put for seconds they do not know.
            if den == 0 && num != 0 {
                return None;
            }
            if den != 0 {
                degrees += num as f64 / den as f64 / [1.0, 60.0, 3600.0][i];
            }
        }
        if degrees > 180.0 {
            return None;
        }
        // At most 180e6: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let micro = (degrees * 1e6 + 0.5) as i32;
        let negative = matches!(
            self.ascii(gps, tag - 1).and_then(|r| r.first()),
            Some(b'S' | b'W')
        );
        Some(if negative { -micro } else { micro })
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
pub(crate) mod tests {
    use super::*;

    /// Builds a TIFF structure in either byte order: IFD0 with pointers to
    /// an Exif IFD and a GPS IFD, values stored after each IFD.
    pub struct TiffBuilder {
        pub big_endian: bool,
        pub ifd0: Vec<(u16, u16, Vec<u8>)>,
        pub exif: Vec<(u16, u16, Vec<u8>)>,
        pub gps: Vec<(u16, u16, Vec<u8>)>,
    }

    pub fn ascii(text: &str) -> (u16, Vec<u8>) {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        (ASCII, bytes)
    }

    impl TiffBuilder {
        pub fn new(big_endian: bool) -> Self {
            Self {
                big_endian,
                ifd0: Vec::new(),
                exif: Vec::new(),
                gps: Vec::new(),
            }
        }

        fn u16(&self, n: u16) -> [u8; 2] {
            if self.big_endian {
                n.to_be_bytes()
            } else {
                n.to_le_bytes()
            }
        }

        fn u32(&self, n: u32) -> [u8; 4] {
            if self.big_endian {
                n.to_be_bytes()
            } else {
                n.to_le_bytes()
            }
        }

        pub fn rationals(&self, parts: &[(u32, u32)]) -> (u16, Vec<u8>) {
            let mut bytes = Vec::new();
            for &(num, den) in parts {
                bytes.extend(self.u32(num));
                bytes.extend(self.u32(den));
            }
            (RATIONAL, bytes)
        }

        pub fn tag(&mut self, which: &str, tag: u16, (kind, value): (u16, Vec<u8>)) -> &mut Self {
            let list = match which {
                "ifd0" => &mut self.ifd0,
                "exif" => &mut self.exif,
                _ => &mut self.gps,
            };
            list.push((tag, kind, value));
            self
        }

        /// Appends an IFD at the end of `out`; returns where it starts.
        fn ifd(&self, out: &mut Vec<u8>, entries: &[(u16, u16, Vec<u8>)]) -> usize {
            let start = out.len();
            let mut values = start + 2 + 12 * entries.len() + 4;
            let mut tail: Vec<u8> = Vec::new();
            out.extend(self.u16(entries.len() as u16));
            for (tag, kind, value) in entries {
                let unit = match *kind {
                    SHORT => 2,
                    LONG | IFD => 4,
                    RATIONAL => 8,
                    _ => 1,
                };
                out.extend(self.u16(*tag));
                out.extend(self.u16(*kind));
                out.extend(self.u32((value.len() / unit) as u32));
                if value.len() <= 4 {
                    let mut field = value.clone();
                    field.resize(4, 0);
                    out.extend(field);
                } else {
                    out.extend(self.u32(values as u32));
                    tail.extend(value);
                    values += value.len();
                }
            }
            out.extend([0; 4]);
            out.extend(tail);
            start
        }

        pub fn build(&self) -> Vec<u8> {
            let mut out = if self.big_endian {
                b"MM\0\x2a".to_vec()
            } else {
                b"II\x2a\0".to_vec()
            };
            out.extend(self.u32(8));
            // IFD0 first with placeholder pointers, patched once the
            // sub-IFDs are placed.
            let mut ifd0 = self.ifd0.clone();
            for (tag, list) in [(EXIF_IFD, &self.exif), (GPS_IFD, &self.gps)] {
                if !list.is_empty() {
                    ifd0.push((tag, LONG, vec![0; 4]));
                }
            }
            ifd0.sort_by_key(|e| e.0);
            let at = self.ifd(&mut out, &ifd0);
            for (tag, list) in [(EXIF_IFD, &self.exif), (GPS_IFD, &self.gps)] {
                if list.is_empty() {
                    continue;
                }
                let sub = self.ifd(&mut out, list);
                let index = ifd0.iter().position(|e| e.0 == tag).unwrap();
                let field = at + 2 + 12 * index + 8;
                out[field..field + 4].copy_from_slice(&self.u32(sub as u32));
            }
            out
        }
    }

    /// A photo's Exif as phones write it: date, sub-seconds, offset, GPS.
    pub fn phone_exif(big_endian: bool) -> Vec<u8> {
        let mut b = TiffBuilder::new(big_endian);
        let lat = b.rationals(&[(48, 1), (51, 1), (2964, 100)]);
        let lon = b.rationals(&[(2, 1), (17, 1), (4020, 100)]);
        b.tag("ifd0", 0x010F, ascii("Phone"))
            .tag("ifd0", DATE_TIME, ascii("2024:01:02 03:04:05"))
            .tag("exif", 0x9003, ascii("2023:07:14 18:30:15"))
            .tag("exif", 0x9011, ascii("+02:00"))
            .tag("exif", 0x9291, ascii("25"))
            .tag("gps", 1, ascii("N"))
            .tag("gps", 2, lat)
            .tag("gps", 3, ascii("W"))
            .tag("gps", 4, lon);
        b.build()
    }

    fn at(date: [u32; 6], ms: u32) -> i64 {
        civil_ms(date, ms).unwrap()
    }

    #[test]
    fn reads_date_offset_and_place_in_both_byte_orders() {
        for big_endian in [false, true] {
            let info = parse(&phone_exif(big_endian));
            assert_eq!(
                info.taken,
                Some(Taken {
                    civil_ms: at([2023, 7, 14, 18, 30, 15], 250),
                    offset_minutes: Some(120),
                }),
                "big endian: {big_endian}"
            );
            // 48°51'29.64" N, 2°17'40.20" W.
            assert_eq!(
                info.location,
                Some(Location {
                    latitude: 48_858_233,
                    longitude: -2_294_500
                })
            );
        }
    }

    #[test]
    fn falls_back_through_the_dates_as_ente_does() {
        let mut b = TiffBuilder::new(false);
        b.tag("ifd0", DATE_TIME, ascii("2024:01:02 03:04:05"))
            .tag("exif", 0x9003, ascii("0000:00:00 00:00:00"))
            .tag("exif", 0x9004, ascii("2022:02:03 04:05:06"))
            .tag("exif", 0x9012, ascii("-05:30"));
        assert_eq!(
            parse(&b.build()).taken,
            Some(Taken {
                civil_ms: at([2022, 2, 3, 4, 5, 6], 0),
                offset_minutes: Some(-330),
            })
        );
        // Only DateTime, with the Exif IFD's offset for it; a bogus
        // original date is skipped.
        let mut b = TiffBuilder::new(true);
        b.tag("ifd0", DATE_TIME, ascii("2024:01:02 03:04:05"))
            .tag("exif", 0x9003, ascii("4501:01:01 00:00:00"))
            .tag("exif", OFFSET_TIME, ascii("+09:00"))
            .tag("exif", SUB_SEC_TIME, ascii("7"));
        assert_eq!(
            parse(&b.build()).taken,
            Some(Taken {
                civil_ms: at([2024, 1, 2, 3, 4, 5], 700),
                offset_minutes: Some(540),
            })
        );
        // No offset: local time, said as such.
        let mut b = TiffBuilder::new(false);
        b.tag("exif", 0x9003, ascii("2021:12:31 23:59:59"))
            .tag("exif", 0x9011, ascii("   :  "));
        assert_eq!(
            parse(&b.build()).taken,
            Some(Taken {
                civil_ms: at([2021, 12, 31, 23, 59, 59], 0),
                offset_minutes: None,
            })
        );
    }

    #[test]
    fn missing_or_malformed_fields_are_absent() {
        // No GPS, no dates.
        let b = TiffBuilder::new(false);
        assert_eq!(parse(&b.build()), MediaInfo::default());
        // A latitude without a longitude, a zero denominator, a wrong type.
        let mut b = TiffBuilder::new(false);
        let lat = b.rationals(&[(10, 1), (0, 0), (0, 0)]);
        b.tag("gps", 2, lat);
        assert_eq!(parse(&b.build()).location, None);
        let mut b = TiffBuilder::new(false);
        let (lat, lon) = (
            b.rationals(&[(10, 0), (0, 1), (0, 1)]),
            b.rationals(&[(10, 1), (0, 1), (0, 1)]),
        );
        b.tag("gps", 2, lat).tag("gps", 4, lon);
        assert_eq!(parse(&b.build()).location, None);
        let mut b = TiffBuilder::new(false);
        b.tag("gps", 2, ascii("48.8")).tag("gps", 4, ascii("2.3"));
        assert_eq!(parse(&b.build()).location, None);
        // 0/0 seconds are zero; no reference is north and east.
        let mut b = TiffBuilder::new(false);
        let (lat, lon) = (
            b.rationals(&[(10, 1), (30, 1), (0, 0)]),
            b.rationals(&[(20, 1), (0, 1), (0, 0)]),
        );
        b.tag("gps", 2, lat).tag("gps", 4, lon);
        assert_eq!(
            parse(&b.build()).location,
            Some(Location {
                latitude: 10_500_000,
                longitude: 20_000_000
            })
        );
        // Dates that are not dates.
        for bad in [
            "2023:07:14",
            "2023:13:14 18:30:15",
            "    :  :     :  :  ",
            "2023:07:14 18:30:1x",
        ] {
            let mut b = TiffBuilder::new(false);
            b.tag("exif", 0x9003, ascii(bad));
            assert_eq!(parse(&b.build()).taken, None, "{bad}");
        }
        assert_eq!(parse(b"not a tiff at all"), MediaInfo::default());
        assert_eq!(parse(b""), MediaInfo::default());
    }

    #[test]
    fn truncated_and_garbage_tiff_never_panics() {
        for big_endian in [false, true] {
            let full = phone_exif(big_endian);
            let whole = parse(&full);
            // Each field stands alone: cut before the Exif IFD, IFD0's
            // DateTime is the date; cut before the offset's value, the
            // original date is local time.
            let survivors = [
                None,
                whole.taken,
                Some(Taken {
                    civil_ms: at([2024, 1, 2, 3, 4, 5], 0),
                    offset_minutes: None,
                }),
                Some(Taken {
                    offset_minutes: None,
                    ..whole.taken.unwrap()
                }),
            ];
            for len in 0..full.len() {
                let info = parse(&full[..len]);
                // Whatever survives is what the full structure says.
                assert!(survivors.contains(&info.taken), "{len}: {info:?}");
                assert!(info.location.is_none() || info.location == whole.location);
            }
            // Every single byte flipped: no panic, no runaway.
            for i in 0..full.len() {
                for flip in [0xFF, 0x80, 0x01] {
                    let mut bad = full.clone();
                    bad[i] ^= flip;
                    let _ = parse(&bad);
                }
            }
        }
        // An IFD claiming 65,535 entries in a short buffer, and pointers
        // past the end.
        let _ = parse(b"II*\0\x08\0\0\0\xff\xff\x69\x87\x04\0\x01\0\0\0\xff\xff\xff\xff");
        let _ = parse(b"MM\0*\xff\xff\xff\xf0");
    }

    #[test]
    fn finds_the_exif_segment_of_a_jpeg() {
        let tiff = phone_exif(false);
        let mut jpeg = vec![0xFF, 0xD8];
        // A JFIF APP0 segment first, then fill bytes, then Exif.
        jpeg.extend([0xFF, 0xE0, 0, 16]);
        jpeg.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        jpeg.extend([0xFF, 0xFF, 0xE1]);
        jpeg.extend(((tiff.len() + 8) as u16).to_be_bytes());
        jpeg.extend(b"Exif\0\0");
        jpeg.extend(&tiff);
        jpeg.extend([0xFF, 0xDA, 0, 2, 1, 2, 3]);
        assert_eq!(jpeg_tiff(&jpeg), Some(&tiff[..]));
        // Cut short: what is there is given.
        assert_eq!(jpeg_tiff(&jpeg[..40]), Some(&tiff[..9]));
        for len in 0..jpeg.len() {
            let _ = jpeg_tiff(&jpeg[..len]).map(parse);
        }
        // No Exif before the image data; not a JPEG; a bad length.
        assert_eq!(jpeg_tiff(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]), None);
        assert_eq!(jpeg_tiff(b"GIF89a"), None);
        assert_eq!(jpeg_tiff(&[0xFF, 0xD8, 0xFF, 0xE1, 0, 1, 0]), None);
        assert_eq!(jpeg_tiff(&[0xFF, 0xD8, 0x00]), None);
    }

    #[test]
    fn reads_a_heif_exif_item() {
        let mut item = vec![0, 0, 0, 6];
        item.extend(b"Exif\0\0");
        item.extend(phone_exif(true));
        assert!(heif_item(&item).taken.is_some());
        assert_eq!(heif_item(&item), parse(&phone_exif(true)));
        // No prefix to skip.
        let mut bare = vec![0; 4];
        bare.extend(phone_exif(false));
        assert_eq!(heif_item(&bare), parse(&phone_exif(false)));
        // An offset past the end, or no room for one.
        assert_eq!(
            heif_item(&[0xFF, 0xFF, 0xFF, 0xFF, 1]),
            MediaInfo::default()
        );
        assert_eq!(heif_item(&[0, 0, 0, 1]), MediaInfo::default());
        assert_eq!(heif_item(&[0, 0]), MediaInfo::default());
    }
}
