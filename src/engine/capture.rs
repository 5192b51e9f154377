//! The metadata Ente's clients expect, completed from the file itself:
//! `media` parses and says what to read, this reads it through the
//! `Source` port (a JPEG: its first 128 KiB, once; a video or a HEIC: a
//! few reads more). Nothing here fails a file: what cannot be read is left
//! out.

use super::Engine;
use super::ports::{Clock, Source, Sources, Store, Transport, Vault};
use crate::crypto::{Key, decrypt_message, encrypt_message, from_base64, to_base64};
use crate::media::{HEAD_BYTES, MediaInfo, Walk};
use crate::protocol::api::{FileMetadata, SealedMetadata};
use crate::queue::{FileType, Item};

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
            // Ente's clients write a duration for videos only.
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

pub(super) fn seal_metadata(file_key: &Key, json: &[u8]) -> SealedMetadata {
    let sealed = encrypt_message(file_key, json);
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
    // Before the object's closing `}`.
    resealed(
        file_key,
        sealed,
        usize::MAX,
        br#","hasStaticThumbnail":true"#,
    )
}

/// Where `FileMetadata::to_json` leaves the hash's value: `{"hash":"` is
/// its first member's start.
const HASH_AT: usize = br#"{"hash":""#.len();

/// `sealed`, sealed again with the content's hash in its empty `hash`: an
/// upload that hashes as it encrypts knows the hash only after its last
/// part. `None` if `sealed` does not open.
pub(super) fn with_hash(
    file_key: &Key,
    sealed: &SealedMetadata,
    hash: &str,
) -> Option<SealedMetadata> {
    resealed(file_key, sealed, HASH_AT, hash.as_bytes())
}

/// `sealed`, opened, with `text` put in at offset `at` (at the most before
/// the last byte), and sealed again. Members go in as text: parsing and
/// writing the JSON again would add code to the wasm for nothing.
fn resealed(
    file_key: &Key,
    sealed: &SealedMetadata,
    at: usize,
    text: &[u8],
) -> Option<SealedMetadata> {
    let header = from_base64(&sealed.decryption_header).ok()?;
    let ciphertext = from_base64(&sealed.encrypted_data).ok()?;
    let mut json = decrypt_message(file_key, &header, &ciphertext).ok()?;
    let tail = json.split_off(at.min(json.len().checked_sub(1)?));
    json.extend_from_slice(text);
    json.extend_from_slice(&tail);
    Some(seal_metadata(file_key, &json))
}

/// What the file says about itself, from the reads `media::Walk` asks
/// for; what cannot be read is left out.
pub async fn read_media(source: &impl Source) -> MediaInfo {
    let size = source.info().size;
    let mut walk = Walk::new(size);
    if let Ok(head) = source.read(0, size.min(HEAD_BYTES)).await {
        let mut want = walk.feed(&head, &head);
        while let Some((at, len)) = want {
            let Ok(bytes) = source.read(at, len).await else {
                break;
            };
            want = walk.feed(&head, &bytes);
        }
    }
    walk.info
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
    use crate::media::bmff::tests::{CREATED, CREATED_TAKEN, boxed, heif_meta, mvhd};
    use crate::media::exif::tests::phone_exif;
    use crate::media::{Location, MAX_BOX_BYTES, Taken};

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

    /// A file of `size` bytes, zero but for `parts`, that records each read
    /// and fails those from `fail_from` on.
    struct Sparse {
        size: u64,
        parts: Vec<(u64, Vec<u8>)>,
        reads: RefCell<Vec<(u64, u64)>>,
        fail_from: u64,
    }

    impl Sparse {
        fn new(size: u64, parts: Vec<(u64, Vec<u8>)>) -> Self {
            Self {
                size,
                parts,
                reads: RefCell::default(),
                fail_from: u64::MAX,
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
            if offset >= self.fail_from || offset.checked_add(len).is_none_or(|end| end > self.size)
            {
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

    /// An MP4 whose `moov` comes after 3 GiB of media (a box with a 64-bit
    /// size).
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
        let mut moov = boxed(b"udta", &[0; 40]);
        moov.extend(mvhd(0, CREATED, 90_000, 90_000 * 61 - 10));
        let file = movie_at_end(&moov);
        let info = block_on(read_media(&file));
        assert_eq!(info.taken, Some(CREATED_TAKEN));
        assert_eq!(info.duration_s, Some(61));
        // The head, the moov's header, the moov.
        let moov_at = file.parts[2].0;
        assert_eq!(
            *file.reads.borrow(),
            [
                (0, HEAD_BYTES),
                (moov_at, 16),
                (moov_at + 8, moov.len() as u64)
            ]
        );
    }

    #[test]
    fn a_movie_within_the_head_costs_one_read() {
        let mut file = boxed(b"ftyp", b"qt  \0\0\x02\0qt  ");
        file.extend(boxed(b"wide", b""));
        file.extend(boxed(b"mdat", &[7; 5000]));
        file.extend(boxed(b"moov", &mvhd(1, CREATED, 600, 1500)));
        let file = Sparse::new(file.len() as u64, vec![(0, file)]);
        let info = block_on(read_media(&file));
        assert_eq!(info.taken, Some(CREATED_TAKEN));
        assert_eq!(info.duration_s, Some(3));
        assert_eq!(file.reads.borrow().len(), 1);
    }

    #[test]
    fn a_moov_over_the_cap_is_not_read() {
        let mut moov = mvhd(0, CREATED, 600, 600);
        moov.extend(boxed(b"free", &vec![0; MAX_BOX_BYTES as usize]));
        let file = movie_at_end(&moov);
        assert_eq!(block_on(read_media(&file)), MediaInfo::default());
        assert!(file.bytes_read() < HEAD_BYTES + 1024);
    }

    /// A HEIC whose Exif item lies at `exif_at`, in an `mdat` after `meta`.
    fn heic(exif_at: u64) -> Sparse {
        let mut item = vec![0, 0, 0, 6];
        item.extend(b"Exif\0\0");
        item.extend(phone_exif(true));
        let mut file = boxed(b"ftyp", b"heic\0\0\0\0mif1heic");
        file.extend(boxed(b"meta", &heif_meta(1, exif_at, item.len() as u64)));
        let mdat_at = file.len() as u64;
        let size = exif_at + 10_000;
        let mut mdat_header = ((size - mdat_at) as u32).to_be_bytes().to_vec();
        mdat_header.extend(b"mdat");
        Sparse::new(
            size,
            vec![(0, file), (mdat_at, mdat_header), (exif_at, item)],
        )
    }

    #[test]
    fn a_heic_exif_item_is_read_where_iloc_says() {
        let far = heic(5_000_000);
        let info = block_on(read_media(&far));
        assert_eq!(info.taken, Some(PHONE_TAKEN));
        assert!(info.location.is_some());
        assert_eq!(info.duration_s, None);
        let item = far.parts[2].1.len() as u64;
        assert_eq!(*far.reads.borrow(), [(0, HEAD_BYTES), (5_000_000, item)]);
        // Within the head: one read.
        let near = heic(2000);
        assert_eq!(block_on(read_media(&near)), info);
        assert_eq!(near.reads.borrow().len(), 1);
        // An item said to lie past the end is not read.
        let mut past = heic(5_000_000);
        past.size = 4_000_000;
        assert_eq!(block_on(read_media(&past)), MediaInfo::default());
        assert_eq!(past.reads.borrow().len(), 1);
    }

    #[test]
    fn unreadable_unknown_and_hostile_files_give_nothing() {
        let mut failing = Sparse::new(300_000, vec![(0, jpeg())]);
        failing.fail_from = 0;
        assert_eq!(block_on(read_media(&failing)), MediaInfo::default());
        let png = Sparse::new(1000, vec![(0, b"\x89PNG\r\n\x1a\n".to_vec())]);
        assert_eq!(block_on(read_media(&png)), MediaInfo::default());
        let empty = Sparse::new(0, vec![]);
        assert_eq!(block_on(read_media(&empty)), MediaInfo::default());
        // A JPEG cut short inside its Exif: what is whole is read.
        let cut = jpeg()[..60].to_vec();
        let short = Sparse::new(60, vec![(0, cut)]);
        assert_eq!(block_on(read_media(&short)).location, None);
        // A movie whose moov cannot be read: nothing, and no more reads.
        let mut gone = movie_at_end(&mvhd(0, CREATED, 1, 5));
        gone.fail_from = gone.parts[2].0 + 8;
        assert_eq!(block_on(read_media(&gone)), MediaInfo::default());
        assert_eq!(gone.reads.borrow().len(), 3);
        // Boxes of 8 bytes each, past the head: the walk stops at the cap.
        let mut tiny = boxed(b"ftyp", b"isom");
        tiny.extend(boxed(b"mdat", &vec![0; HEAD_BYTES as usize]));
        tiny.extend([0, 0, 0, 8, b'f', b'r', b'e', b'e'].repeat(30_000));
        let file = Sparse::new(tiny.len() as u64, vec![(0, tiny)]);
        assert_eq!(block_on(read_media(&file)), MediaInfo::default());
        assert!(
            file.reads.borrow().len() < 40,
            "{}",
            file.reads.borrow().len()
        );
        // A moov that says it is longer than the file (a file cut short):
        // read as far as the file goes, never past it, and what is whole
        // is used; one whose header ends the file is not read at all.
        let mut cut = movie_at_end(&mvhd(0, CREATED, 1, 5));
        let moov_len = cut.parts[2].1.len() as u32;
        cut.parts[2].1[..4].copy_from_slice(&(moov_len + 4096).to_be_bytes());
        assert_eq!(block_on(read_media(&cut)).duration_s, Some(5));
        assert!(
            cut.reads
                .borrow()
                .iter()
                .all(|(at, len)| at + len <= cut.size)
        );
        let mut bare = movie_at_end(&[]);
        bare.parts[2].1[..4].copy_from_slice(&4096u32.to_be_bytes());
        assert_eq!(block_on(read_media(&bare)), MediaInfo::default());
        assert!(
            bare.reads
                .borrow()
                .iter()
                .all(|(at, len)| at + len <= bare.size)
        );
        // A box that says it runs past the end, and one of size 0 (to the end).
        let mut past = boxed(b"ftyp", b"isom");
        past.extend(b"\x7f\xff\xff\xffmoov");
        let file = Sparse::new(4000, vec![(0, past)]);
        assert_eq!(block_on(read_media(&file)), MediaInfo::default());
        let mut to_end = boxed(b"ftyp", b"isom");
        to_end.extend(b"\0\0\0\0moov");
        to_end.extend(mvhd(0, CREATED, 1, 5));
        let len = to_end.len() as u64;
        let file = Sparse::new(len, vec![(0, to_end)]);
        assert_eq!(block_on(read_media(&file)).duration_s, Some(5));
        // A box header cut short by the end of the file; a box of size 1
        // whose 64-bit size is smaller than its header.
        for tail in [&b"\0\0\0\x01mo"[..], b"\0\0\0\x01moov\0\0\0\0\0\0\0\x08"] {
            let mut file = boxed(b"ftyp", b"isom");
            file.extend(tail);
            let file = Sparse::new(file.len() as u64, vec![(0, file)]);
            assert_eq!(block_on(read_media(&file)), MediaInfo::default());
        }
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
        let sealed = seal_metadata(&key, &metadata.to_json());
        let marked = with_static_thumbnail(&key, &sealed).unwrap();
        assert_ne!(marked.decryption_header, sealed.decryption_header);
        let plain = decrypt_message(
            &key,
            &from_base64(&marked.decryption_header).unwrap(),
            &from_base64(&marked.encrypted_data).unwrap(),
        )
        .unwrap();
        let marked_metadata = FileMetadata {
            has_static_thumbnail: true,
            ..metadata
        };
        assert_eq!(plain, marked_metadata.to_json());
        assert_eq!(with_static_thumbnail(&Key::generate(), &sealed), None);
    }

    #[test]
    fn the_hash_goes_into_the_empty_member() {
        let key = Key::generate();
        let open = |sealed: &SealedMetadata| {
            decrypt_message(
                &key,
                &from_base64(&sealed.decryption_header).unwrap(),
                &from_base64(&sealed.encrypted_data).unwrap(),
            )
            .unwrap()
        };
        // A title that spells the member out must not receive the hash.
        let metadata = FileMetadata {
            file_type: 1,
            title: r#"a "hash":"" b.mov"#.into(),
            creation_time: 5,
            modification_time: 6,
            hash: String::new(),
            location: None,
            duration: Some(3),
            has_static_thumbnail: false,
        };
        let sealed = seal_metadata(&key, &metadata.to_json());
        let hashed = with_hash(&key, &sealed, "aGFzaA==").unwrap();
        let filled = FileMetadata {
            hash: "aGFzaA==".into(),
            ..metadata.clone()
        };
        assert_eq!(open(&hashed), filled.to_json());
        let read = FileMetadata::from_json(&open(&hashed)).unwrap();
        assert_eq!((read.title, read.hash), (filled.title, filled.hash));
        assert_eq!(with_hash(&Key::generate(), &sealed, "aGFzaA=="), None);
    }
}
