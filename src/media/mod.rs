//! What a photo or a video says about itself, read the way Ente's clients
//! read it: when it was taken (Exif `DateTimeOriginal` with its offset in a
//! JPEG, a HEIC or a TIFF-based raw; a video's creation time), where (Exif
//! GPS), and how long a video runs.
//!
//! Pure functions over byte slices; fetching those bytes is the engine's
//! (`engine::capture`). Every offset and length a file gives is checked
//! against the slice it points into, so truncated or hostile input yields
//! nothing rather than a panic, and nothing here allocates.
//!
//! A video's location (`udta/©xyz`, Apple's ISO 6709 key) is not read.

pub mod bmff;
pub mod exif;

/// A moment a file gives: its civil date and time, and its offset from UTC
/// when the file states one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The civil date and time read as if it were UTC, in ms since the epoch.
    pub civil_ms: i64,
    /// Minutes east of UTC, when the file states it.
    pub offset_minutes: Option<i32>,
}

impl Taken {
    /// Microseconds since the epoch. A date without an offset is local time
    /// where it is uploaded, as Ente's web client takes it: `offset_at`
    /// gives the device's offset (minutes east of UTC) at an instant (ms).
    pub fn micros(self, offset_at: impl Fn(i64) -> i32) -> i64 {
        let minutes = self.offset_minutes.unwrap_or_else(|| {
            // The offset at the civil time read as UTC is an hour off near a
            // daylight-saving change; the offset at the instant it gives is not.
            offset_at(self.civil_ms - i64::from(offset_at(self.civil_ms)) * 60_000)
        });
        (self.civil_ms - i64::from(minutes) * 60_000).saturating_mul(1000)
    }
}

/// A place, in millionths of a degree (about 11 cm): exact in integers, and
/// written as a six-decimal number without float formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub latitude: i32,
    pub longitude: i32,
}

impl Location {
    /// `None` out of range, and for 0,0: what a device without a fix writes,
    /// and what Ente's apps treat as no location.
    pub fn new(latitude: i32, longitude: i32) -> Option<Self> {
        let valid = latitude.unsigned_abs() <= 90_000_000
            && longitude.unsigned_abs() <= 180_000_000
            && (latitude, longitude) != (0, 0);
        valid.then_some(Self {
            latitude,
            longitude,
        })
    }
}

/// What a file says about itself; each part is absent when it does not say.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MediaInfo {
    pub taken: Option<Taken>,
    pub location: Option<Location>,
    /// Whole seconds, rounded up (Ente's `duration`).
    pub duration_s: Option<u32>,
}

/// The bytes read from the start of every file: a JPEG's Exif segment
/// (at most 64 KiB) lies within.
pub const HEAD_BYTES: u64 = 128 * 1024;
/// The most read of a `moov` or `meta` box.
pub const MAX_BOX_BYTES: u64 = 8 * 1024 * 1024;
/// The most read of a HEIC's Exif item.
const MAX_EXIF_BYTES: u64 = 1024 * 1024;
/// Top-level boxes walked: real files have a handful.
const MAX_BOXES: u32 = 32;

/// What the first bytes of a file say: a JPEG's Exif segment, or a TIFF
/// structure (TIFF and the raw formats built on it: DNG, most camera raws).
pub fn read(head: &[u8]) -> MediaInfo {
    match head.get(..4) {
        Some([0xFF, 0xD8, 0xFF, _]) => exif::jpeg_tiff(head).map(exif::parse).unwrap_or_default(),
        Some(b"II*\0" | b"MM\0*") => exif::parse(head),
        _ => MediaInfo::default(),
    }
}

/// Reading what a file says, a few bytes at a time: the caller reads the
/// first `HEAD_BYTES` (or the whole file when smaller), then what `feed`
/// asks for, and feeds each back. A JPEG or a TIFF needs nothing more; an
/// MP4, MOV or HEIC is walked box by box to its first `moov`, or to its
/// `meta` (the first: a file has one) and the Exif item that points to.
/// Each costs a 16-byte header, then the box (at most `MAX_BOX_BYTES`) or
/// the item (at most `MAX_EXIF_BYTES`), read only when the head does not
/// hold it: a `moov` after gigabytes of media costs a few small reads, not
/// a pass over the file.
#[derive(Debug)]
pub struct Walk {
    /// What has been read so far.
    pub info: MediaInfo,
    size: u64,
    /// Where the bytes asked for last start, and what they are: the head,
    /// a box header (0), or the payload of a `moov`, `meta` or `Exif`.
    at: u64,
    what: u32,
    /// Where the box after the one at `at` starts.
    next: u64,
    boxes: u32,
    meta_read: bool,
}

const HEAD: u32 = bmff::fourcc(b"head");
const MOOV: u32 = bmff::fourcc(b"moov");
const META: u32 = bmff::fourcc(b"meta");
const EXIF: u32 = bmff::fourcc(b"Exif");

impl Walk {
    /// A walk over a file of `size` bytes.
    pub fn new(size: u64) -> Self {
        Self {
            info: MediaInfo::default(),
            size,
            at: 0,
            what: HEAD,
            next: 0,
            boxes: 0,
            meta_read: false,
        }
    }

    /// Takes `bytes`, the bytes asked for last (at first, `head`), and says
    /// which to read next: `None` when done, and then `info` holds what the
    /// file says. Bytes that `head` holds are taken from it.
    pub fn feed<'a>(&mut self, head: &'a [u8], mut bytes: &'a [u8]) -> Option<(u64, u64)> {
        loop {
            let (at, len) = self.step(bytes)?;
            let end = usize::try_from(at.checked_add(len)?).ok()?;
            match head.get(usize::try_from(at).ok()?..end) {
                Some(held) => bytes = held,
                None => return Some((at, len)),
            }
        }
    }

    fn step(&mut self, bytes: &[u8]) -> Option<(u64, u64)> {
        match self.what {
            HEAD if !bmff::is_boxes(bytes) => {
                self.info = read(bytes);
                return None;
            }
            MOOV => {
                self.info = bmff::movie(bytes);
                return None;
            }
            EXIF => {
                self.info = exif::heif_item(bytes);
                return None;
            }
            META => {
                if let Some((at, len)) = bmff::heif_exif(bytes)
                    && len <= MAX_EXIF_BYTES
                    && at.checked_add(len)? <= self.size
                {
                    self.what = EXIF;
                    return Some((at, len));
                }
            }
            // A box header, the head's included.
            _ => {
                let (kind, len, size) = bmff::header(bytes, self.size - self.at)?;
                self.next = self.at.checked_add(size)?;
                let meta = kind == META && !self.meta_read;
                let body_at = self.at.checked_add(len)?;
                // A box may say it runs past the end of the file (cut
                // short, or lying): its body is read as far as the file
                // goes, and one with no byte in the file is not read at
                // all. A source is never asked for bytes it does not have.
                if (kind == MOOV || meta) && size - len <= MAX_BOX_BYTES && body_at < self.size {
                    self.meta_read |= meta;
                    self.what = kind;
                    return Some((body_at, (size - len).min(self.size - body_at)));
                }
            }
        }
        // On to the next box. Each box read starts before `size`, so
        // `size - at` cannot wrap.
        self.boxes += 1;
        (self.next < self.size && self.boxes < MAX_BOXES).then(|| {
            (self.at, self.what) = (self.next, 0);
            (self.at, (self.size - self.at).min(16))
        })
    }
}

/// Milliseconds since the epoch of a civil date and time read as UTC, or
/// `None` when a field is out of range (`0000:00:00 00:00:00` and blanks
/// are common in the wild).
pub fn civil_ms(date: [u32; 6], ms: u32) -> Option<i64> {
    let [year, month, day, hour, minute, second] = date;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 59 || ms > 999 {
        return None;
    }
    // Days from 1970-01-01 in the proleptic Gregorian calendar, counting
    // from March so the leap day ends the year.
    let (y, m) = if month > 2 {
        (i64::from(year), i64::from(month) - 3)
    } else {
        (i64::from(year) - 1, i64::from(month) + 9)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(seconds * 1000 + i64::from(ms))
}

/// The digits of `text` as a number, when all of them are digits.
// Called at every field of a date; inlined, each call costs the wasm.
#[inline(never)]
pub(crate) fn digits(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    text.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// Millionths of a degree as a JSON number with six decimals.
pub fn write_degrees(out: &mut String, micro: i32) {
    use std::fmt::Write;
    let sign = if micro < 0 { "-" } else { "" };
    let abs = micro.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_count_days_like_the_calendar() {
        assert_eq!(civil_ms([1970, 1, 1, 0, 0, 0], 0), Some(0));
        // 2024-02-29 12:34:56.789 UTC (a leap day).
        assert_eq!(
            civil_ms([2024, 2, 29, 12, 34, 56], 789),
            Some(1_709_210_096_789)
        );
        assert_eq!(civil_ms([2000, 3, 1, 0, 0, 0], 0), Some(951_868_800_000));
        assert_eq!(civil_ms([1969, 12, 31, 23, 59, 59], 0), Some(-1000));
        assert_eq!(civil_ms([1900, 1, 1, 0, 0, 0], 0), Some(-2_208_988_800_000));
        for bad in [
            [0, 0, 0, 0, 0, 0],
            [2020, 13, 1, 0, 0, 0],
            [2020, 1, 32, 0, 0, 0],
            [2020, 1, 1, 24, 0, 0],
            [2020, 1, 1, 0, 60, 0],
            [2020, 1, 1, 0, 0, 60],
        ] {
            assert_eq!(civil_ms(bad, 0), None, "{bad:?}");
        }
        assert_eq!(civil_ms([2020, 1, 1, 0, 0, 0], 1000), None);
    }

    #[test]
    fn a_date_without_offset_is_local_time_at_that_instant() {
        let noon = civil_ms([2023, 7, 1, 12, 0, 0], 0).unwrap();
        let stated = Taken {
            civil_ms: noon,
            offset_minutes: Some(330),
        };
        // A stated offset wins over the device's.
        assert_eq!(stated.micros(|_| -480), (noon - 330 * 60_000) * 1000);
        let local = Taken {
            civil_ms: noon,
            offset_minutes: None,
        };
        assert_eq!(local.micros(|_| 0), noon * 1000);
        assert_eq!(local.micros(|_| 120), (noon - 120 * 60_000) * 1000);
        // A zone that moves from +60 to +120 at 01:00 UTC (02:00 local).
        // 01:45 local is still +60, although 01:45 UTC is past the change.
        let change = civil_ms([2023, 3, 26, 1, 0, 0], 0).unwrap();
        let zone = |utc: i64| if utc < change { 60 } else { 120 };
        let at = |h, m| civil_ms([2023, 3, 26, h, m, 0], 0).unwrap();
        let local = |civil_ms| Taken {
            civil_ms,
            offset_minutes: None,
        };
        assert_eq!(local(at(1, 45)).micros(zone), at(0, 45) * 1000);
        assert_eq!(local(at(3, 30)).micros(zone), at(1, 30) * 1000);
    }

    #[test]
    fn degrees_are_written_with_six_decimals() {
        let mut out = String::new();
        for micro in [48_858_222, -122_083_000, 5, -5, 0, 180_000_000] {
            write_degrees(&mut out, micro);
            out.push(' ');
        }
        assert_eq!(
            out,
            "48.858222 -122.083000 0.000005 -0.000005 0.000000 180.000000 "
        );
    }

    #[test]
    fn locations_out_of_range_or_at_zero_are_none() {
        assert!(Location::new(90_000_000, -180_000_000).is_some());
        assert!(Location::new(90_000_001, 0).is_none());
        assert!(Location::new(0, 180_000_001).is_none());
        assert!(Location::new(0, 0).is_none());
        assert!(Location::new(0, 1).is_some());
    }

    /// Walks `file` as the engine does, with a head of `head_len` bytes:
    /// what it says, and the reads after the head.
    #[allow(clippy::cast_possible_truncation)]
    fn walk(file: &[u8], head_len: usize) -> (MediaInfo, Vec<(u64, u64)>) {
        let head = &file[..head_len.min(file.len())];
        let mut walk = Walk::new(file.len() as u64);
        let mut reads = Vec::new();
        let mut want = walk.feed(head, head);
        while let Some((at, len)) = want {
            reads.push((at, len));
            want = walk.feed(head, &file[at as usize..(at + len) as usize]);
        }
        (walk.info, reads)
    }

    #[test]
    fn a_walk_reads_the_first_meta_only_and_stops_at_the_moov() {
        use bmff::tests::{CREATED, CREATED_TAKEN, boxed, heif_meta, mvhd};
        let mut file = boxed(b"ftyp", b"isom");
        // A `meta` without an Exif item, a second one, then the movie.
        let mut no_exif = heif_meta(0, 2000, 10);
        let at = no_exif.windows(4).position(|w| w == b"Exif").unwrap();
        no_exif[at..at + 4].copy_from_slice(b"mime");
        let first = file.len() as u64;
        file.extend(boxed(b"meta", &no_exif));
        let second = file.len() as u64;
        file.extend(boxed(b"meta", &heif_meta(0, 2000, 10)));
        let moov = file.len() as u64;
        let movie = mvhd(0, CREATED, 1, 4);
        file.extend(boxed(b"moov", &movie));
        file.extend(boxed(b"free", &[0; 100]));
        let (info, reads) = walk(&file, 16);
        assert_eq!(info.taken, Some(CREATED_TAKEN));
        assert_eq!(info.duration_s, Some(4));
        let meta_len = no_exif.len() as u64;
        assert_eq!(
            reads,
            [
                (first, 16),
                (first + 8, meta_len),
                (second, 16),
                (moov, 16),
                (moov + 8, movie.len() as u64)
            ]
        );
        // Held whole by the head: nothing more is read.
        assert_eq!(walk(&file, file.len()), (info, vec![]));
    }

    #[test]
    fn jpeg_and_tiff_are_read_and_anything_else_is_not() {
        let tiff = exif::tests::phone_exif(true);
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
        jpeg.extend(u16::try_from(tiff.len() + 8).unwrap().to_be_bytes());
        jpeg.extend(b"Exif\0\0");
        jpeg.extend(&tiff);
        let info = read(&jpeg);
        assert!(info.taken.is_some() && info.location.is_some());
        assert_eq!(read(&tiff), info);
        for other in [
            &b"\x89PNG\r\n\x1a\n"[..],
            b"\0\0\0\x18ftypheic",
            b"\xff\xd8",
            b"",
        ] {
            assert_eq!(read(other), MediaInfo::default());
        }
    }
}
