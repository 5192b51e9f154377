//! The metadata Ente's clients expect, completed from the file itself
//! (`media` parses; this reads through the `Source` port). A few small
//! reads: the first 128 KiB, then for MP4/MOV/HEIC the top-level box
//! headers one by one, the `moov` or `meta` box (at most 8 MiB) and a
//! HEIC's Exif item (at most 1 MiB), so a video whose `moov` follows
//! gigabytes of media costs a handful of reads, not a pass over the file.
//! Nothing here fails a file: what cannot be read is left out.

use std::borrow::Cow;

use super::Engine;
use super::ports::{Clock, Source, Sources, Store, Transport, Vault};
use crate::crypto::{Key, decrypt_message, encrypt_message, from_base64, to_base64};
use crate::media::{self, Kind, MediaInfo, bmff, exif};
use crate::protocol::api::{FileMetadata, SealedMetadata};
use crate::queue::{FileType, Item};

const HEAD_BYTES: u64 = 128 * 1024;
const MAX_BOX_BYTES: u64 = 8 * 1024 * 1024;
const MAX_EXIF_BYTES: u64 = 1024 * 1024;
/// Top-level boxes walked: real files have a handful.
const MAX_BOXES: u32 = 32;

impl<S: Store, T: Transport, R: Sources, V: Vault, C: Clock> Engine<S, T, R, V, C> {
    /// The metadata of `item`, whose content hashes to `hash`.
    pub(super) async fn file_metadata(&self, item: &Item, hash: &str) -> FileMetadata {
        let (info, modified_ms) = match self.env.sources.open(&item.new.source).await {
            Ok(source) => (read_media(&source).await, source.info().last_modified_ms),
            // It was read a moment ago to hash it; keep what was seen then.
            Err(_) => (MediaInfo::default(), item.last_modified_ms.unwrap_or(0)),
        };
        let clock = &self.env.clock;
        let taken = info
            .taken
            .map(|taken| taken.micros(|ms| clock.utc_offset_minutes(ms)));
        let modified = nonzero(item.new.modification_time)
            .or_else(|| nonzero(modified_ms.saturating_mul(1000)));
        let creation_time = creation_time(
            item.new.creation_time,
            taken,
            modified,
            clock.now_ms().saturating_mul(1000),
        );
        FileMetadata {
            file_type: item.new.file_type.wire(),
            title: item.new.title.clone(),
            creation_time,
            modification_time: modified.unwrap_or(creation_time),
            hash: hash.to_owned(),
            location: info.location,
            duration: info
                .duration_s
                .filter(|_| item.new.file_type == FileType::Video),
            has_static_thumbnail: false,
        }
    }
}

fn nonzero(time: i64) -> Option<i64> {
    (time != 0).then_some(time)
}

/// The host's creation time when it gave one (non-zero), else the file's
/// own date, else its modification time, else now: never 0, which Ente's
/// apps would show as 1970. The same order as Ente's web client, which
/// lets a Google Takeout sidecar's date win over Exif as the host's wins here.
fn creation_time(given: i64, taken: Option<i64>, modified: Option<i64>, now: i64) -> i64 {
    nonzero(given)
        .or(taken.and_then(nonzero))
        .or(modified)
        .unwrap_or(now)
}

pub(super) fn seal_metadata(file_key: &Key, metadata: &FileMetadata) -> SealedMetadata {
    let sealed = encrypt_message(file_key, &metadata.to_json());
    SealedMetadata {
        encrypted_data: to_base64(&sealed.ciphertext),
        decryption_header: to_base64(&sealed.header),
    }
}

/// `sealed`, sealed again saying the placeholder thumbnail went. The
/// thumbnail is made after the metadata is sealed, and the placeholder is
/// only known to go once it is made. `None` if `sealed` does not open.
pub(super) fn with_static_thumbnail(
    file_key: &Key,
    sealed: &SealedMetadata,
) -> Option<SealedMetadata> {
    let header = from_base64(&sealed.decryption_header).ok()?;
    let ciphertext = from_base64(&sealed.encrypted_data).ok()?;
    let plain = decrypt_message(file_key, &header, &ciphertext).ok()?;
    let mut metadata = FileMetadata::from_json(&plain).ok()?;
    metadata.has_static_thumbnail = true;
    Some(seal_metadata(file_key, &metadata))
}

/// What the file says about itself; nothing when it cannot be read.
pub async fn read_media(source: &impl Source) -> MediaInfo {
    let size = source.info().size;
    let Ok(head) = source.read(0, size.min(HEAD_BYTES)).await else {
        return MediaInfo::default();
    };
    match media::sniff(&head) {
        Kind::Jpeg => exif::jpeg_tiff(&head).map(exif::parse).unwrap_or_default(),
        Kind::Tiff => exif::parse(&head),
        Kind::Bmff => boxes(source, &head, size).await,
        Kind::Other => MediaInfo::default(),
    }
}

/// Walks the top-level boxes of an ISO base media file.
async fn boxes(source: &impl Source, head: &[u8], size: u64) -> MediaInfo {
    let mut info = MediaInfo::default();
    let mut offset = 0;
    for _ in 0..MAX_BOXES {
        let want = size.saturating_sub(offset).min(16);
        let Some(header) = bytes_at(source, head, offset, want)
            .await
            .and_then(|b| bmff::header(&b))
        else {
            break;
        };
        let box_size = header.size.unwrap_or(size - offset);
        let payload = (offset + header.len, box_size - header.len);
        if payload.1 <= MAX_BOX_BYTES {
            match &header.kind {
                b"moov" => {
                    if let Some(moov) = bytes_at(source, head, payload.0, payload.1).await {
                        info = info.or(bmff::movie(&moov));
                    }
                }
                b"meta" => {
                    let extent = bytes_at(source, head, payload.0, payload.1)
                        .await
                        .and_then(|meta| bmff::heif_exif(&meta))
                        .filter(|&(_, len)| len <= MAX_EXIF_BYTES);
                    if let Some((at, len)) = extent
                        && let Some(item) = bytes_at(source, head, at, len).await
                    {
                        info = info.or(exif::heif_item(&item));
                    }
                }
                _ => {}
            }
        }
        match offset.checked_add(box_size) {
            Some(next) if next < size => offset = next,
            _ => break,
        }
    }
    info
}

/// `len` bytes at `offset`: from `head` when it holds them, else read.
async fn bytes_at<'a>(
    source: &impl Source,
    head: &'a [u8],
    offset: u64,
    len: u64,
) -> Option<Cow<'a, [u8]>> {
    let end = offset.checked_add(len)?;
    let in_head = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(start, end)| head.get(start..end));
    match in_head {
        Some(bytes) => Some(Cow::Borrowed(bytes)),
        None => source.read(offset, len).await.ok().map(Cow::Owned),
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::engine::ports::{SourceError, SourceInfo};
    use crate::media::bmff::tests::{CREATED, boxed, heif_meta, mvhd, xyz};
    use crate::media::exif::tests::phone_exif;
    use crate::media::{Location, Taken};

    /// The futures here never wait: poll until ready.
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut context = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut context) {
                return out;
            }
        }
    }

    /// A file of `size` bytes, zero but for `parts`, that records each read.
    struct Sparse {
        size: u64,
        parts: Vec<(u64, Vec<u8>)>,
        reads: RefCell<Vec<(u64, u64)>>,
        fail: bool,
    }

    impl Sparse {
        fn new(size: u64, parts: Vec<(u64, Vec<u8>)>) -> Self {
            Self {
                size,
                parts,
                reads: RefCell::default(),
                fail: false,
            }
        }

        fn bytes_read(&self) -> u64 {
            self.reads.borrow().iter().map(|r| r.1).sum()
        }
    }

    impl Source for Sparse {
        fn info(&self) -> SourceInfo {
            SourceInfo {
                size: self.size,
                last_modified_ms: 0,
            }
        }

        async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, SourceError> {
            self.reads.borrow_mut().push((offset, len));
            if self.fail || offset + len > self.size {
                return Err(SourceError::Unreadable("no".into()));
            }
            let mut out = vec![0; len as usize];
            for (at, bytes) in &self.parts {
                for (i, b) in bytes.iter().enumerate() {
                    let pos = at + i as u64;
                    if pos >= offset && pos < offset + len {
                        out[(pos - offset) as usize] = *b;
                    }
                }
            }
            Ok(out)
        }
    }

    fn jpeg() -> Vec<u8> {
        let tiff = phone_exif(false);
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
        jpeg.extend(((tiff.len() + 8) as u16).to_be_bytes());
        jpeg.extend(b"Exif\0\0");
        jpeg.extend(tiff);
        jpeg.extend([0xFF, 0xDA, 0, 2]);
        jpeg.resize(300_000, 0x55);
        jpeg
    }

    const PHONE_TAKEN: Taken = Taken {
        civil_ms: 1_689_359_415_250,
        offset_minutes: Some(120),
    };

    #[test]
    fn a_jpeg_costs_one_read_of_its_head() {
        let file = Sparse::new(300_000, vec![(0, jpeg())]);
        let info = block_on(read_media(&file));
        assert_eq!(info.taken, Some(PHONE_TAKEN));
        assert!(info.location.is_some());
        assert_eq!(*file.reads.borrow(), [(0, HEAD_BYTES)]);
        // A file smaller than the head is read whole, once.
        let small = Sparse::new(100, vec![(0, jpeg()[..100].to_vec())]);
        block_on(read_media(&small));
        assert_eq!(*small.reads.borrow(), [(0, 100)]);
    }

    /// An MP4 whose `moov` comes after 3 GiB of media.
    fn movie_at_end(moov_payload: &[u8]) -> Sparse {
        let media = 3u64 << 30;
        let mut mdat = 1u32.to_be_bytes().to_vec();
        mdat.extend(b"mdat");
        mdat.extend((media + 16).to_be_bytes());
        let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2mp41");
        let moov = boxed(b"moov", moov_payload);
        let moov_at = ftyp.len() as u64 + media + 16;
        Sparse::new(
            moov_at + moov.len() as u64,
            vec![
                (0, ftyp.clone()),
                (ftyp.len() as u64, mdat),
                (moov_at, moov),
            ],
        )
    }

    #[test]
    fn a_movie_with_moov_at_the_end_costs_a_few_small_reads() {
        let mut moov = mvhd(0, CREATED, 90_000, 90_000 * 61);
        moov.extend(xyz("+35.6586+139.7454/"));
        let file = movie_at_end(&moov);
        let info = block_on(read_media(&file));
        assert_eq!(
            info.taken,
            Some(Taken {
                civil_ms: 1_689_352_215_000,
                offset_minutes: Some(0)
            })
        );
        assert_eq!(info.duration_s, Some(61));
        assert_eq!(info.location, Location::new(35_658_600, 139_745_400));
        // The head, the moov header, the moov.
        assert_eq!(file.reads.borrow().len(), 3, "{:?}", file.reads.borrow());
        assert!(file.bytes_read() < HEAD_BYTES + 1024);
    }

    #[test]
    fn a_moov_over_the_cap_is_not_read() {
        let mut moov = mvhd(0, CREATED, 600, 600);
        moov.extend(boxed(b"free", &vec![0; MAX_BOX_BYTES as usize]));
        let file = movie_at_end(&moov);
        assert_eq!(block_on(read_media(&file)), MediaInfo::default());
        assert!(file.bytes_read() < HEAD_BYTES + 1024);
    }

    #[test]
    fn a_heic_exif_item_is_read_where_iloc_says() {
        let exif_at = 5_000_000;
        let mut item = vec![0, 0, 0, 6];
        item.extend(b"Exif\0\0");
        item.extend(phone_exif(true));
        let mut file = boxed(b"ftyp", b"heic\0\0\0\0mif1heic");
        file.extend(boxed(b"meta", &heif_meta(1, exif_at, item.len() as u64)));
        let mdat_at = file.len() as u64;
        let mut mdat_header = ((exif_at + 10_000 - mdat_at) as u32).to_be_bytes().to_vec();
        mdat_header.extend(b"mdat");
        let file = Sparse::new(
            exif_at + 10_000,
            vec![(0, file), (mdat_at, mdat_header), (exif_at, item)],
        );
        let info = block_on(read_media(&file));
        assert_eq!(info.taken, Some(PHONE_TAKEN));
        assert!(info.location.is_some());
        assert_eq!(file.reads.borrow().len(), 2, "{:?}", file.reads.borrow());
    }

    #[test]
    fn unreadable_unknown_and_hostile_files_give_nothing() {
        let mut failing = Sparse::new(300_000, vec![(0, jpeg())]);
        failing.fail = true;
        assert_eq!(block_on(read_media(&failing)), MediaInfo::default());
        let png = Sparse::new(1000, vec![(0, b"\x89PNG\r\n\x1a\n".to_vec())]);
        assert_eq!(block_on(read_media(&png)), MediaInfo::default());
        let empty = Sparse::new(0, vec![]);
        assert_eq!(block_on(read_media(&empty)), MediaInfo::default());
        // Boxes of 8 bytes each after the head: the walk stops at the cap.
        let mut tiny = boxed(b"ftyp", b"isom");
        tiny.extend([0, 0, 0, 8, b'f', b'r', b'e', b'e'].repeat(30_000));
        let file = Sparse::new(tiny.len() as u64, vec![(0, tiny)]);
        assert_eq!(block_on(read_media(&file)), MediaInfo::default());
        assert_eq!(file.reads.borrow().len(), 1);
        // A box that says it runs past the end, and one of size 0 (to the end).
        let mut past = boxed(b"ftyp", b"isom");
        past.extend(b"\xff\xff\xff\xffmoov");
        let file = Sparse::new(4000, vec![(0, past)]);
        assert_eq!(block_on(read_media(&file)), MediaInfo::default());
        let mut to_end = boxed(b"ftyp", b"isom");
        to_end.extend(b"\0\0\0\0moov");
        to_end.extend(mvhd(0, CREATED, 1, 5));
        let len = to_end.len() as u64;
        let file = Sparse::new(len, vec![(0, to_end)]);
        assert_eq!(block_on(read_media(&file)).duration_s, Some(5));
    }

    #[test]
    fn creation_time_prefers_the_host_then_the_file_and_is_never_zero() {
        assert_eq!(creation_time(7, Some(8), Some(9), 10), 7);
        assert_eq!(creation_time(0, Some(8), Some(9), 10), 8);
        assert_eq!(creation_time(0, Some(-8), None, 10), -8);
        assert_eq!(creation_time(0, Some(0), Some(9), 10), 9);
        assert_eq!(creation_time(0, None, None, 10), 10);
    }

    #[test]
    fn the_static_thumbnail_mark_keeps_everything_else() {
        let key = Key::generate();
        let metadata = FileMetadata {
            file_type: 0,
            title: "IMG_1.HEIC".into(),
            creation_time: 1_689_352_215_250_000,
            modification_time: 1_700_000_000_000_000,
            hash: "aGFzaA==".into(),
            location: Location::new(1, -2),
            duration: None,
            has_static_thumbnail: false,
        };
        let sealed = seal_metadata(&key, &metadata);
        let marked = with_static_thumbnail(&key, &sealed).unwrap();
        assert_ne!(marked.decryption_header, sealed.decryption_header);
        let plain = decrypt_message(
            &key,
            &from_base64(&marked.decryption_header).unwrap(),
            &from_base64(&marked.encrypted_data).unwrap(),
        )
        .unwrap();
        assert_eq!(
            FileMetadata::from_json(&plain).unwrap(),
            FileMetadata {
                has_static_thumbnail: true,
                ..metadata
            }
        );
        assert_eq!(with_static_thumbnail(&Key::generate(), &sealed), None);
    }
}
