//! The metadata Ente's clients expect, completed from the file itself:
//! `media` parses, this reads through the `Source` port (the first 128 KiB,
//! once). Nothing here fails a file: what cannot be read is left out.

use super::Engine;
use super::ports::{Clock, Source, Sources, Store, Transport, Vault};
use crate::crypto::{Key, decrypt_message, encrypt_message, from_base64, to_base64};
use crate::media::{self, HEAD_BYTES, MediaInfo};
use crate::protocol::api::{FileMetadata, SealedMetadata};
use crate::queue::Item;

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
    let header = from_base64(&sealed.decryption_header).ok()?;
    let ciphertext = from_base64(&sealed.encrypted_data).ok()?;
    let mut json = decrypt_message(file_key, &header, &ciphertext).ok()?;
    // `FileMetadata::to_json` wrote it: one object, ending with its `}`.
    // The member goes in as text; parsing and writing again would add code
    // to the wasm for nothing.
    (json.pop()? == b'}').then_some(())?;
    json.extend_from_slice(br#","hasStaticThumbnail":true}"#);
    Some(seal_metadata(file_key, &json))
}

/// What the file says about itself, from one read of its first bytes;
/// nothing when it cannot be read.
pub async fn read_media(source: &impl Source) -> MediaInfo {
    let len = source.info().size.min(HEAD_BYTES);
    match source.read(0, len).await {
        Ok(head) => media::read(&head),
        Err(_) => MediaInfo::default(),
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

    #[test]
    fn unreadable_unknown_and_hostile_files_give_nothing() {
        let mut failing = Sparse::new(300_000, vec![(0, jpeg())]);
        failing.fail = true;
        assert_eq!(block_on(read_media(&failing)), MediaInfo::default());
        let png = Sparse::new(1000, vec![(0, b"\x89PNG\r\n\x1a\n".to_vec())]);
        assert_eq!(block_on(read_media(&png)), MediaInfo::default());
        let empty = Sparse::new(0, vec![]);
        assert_eq!(block_on(read_media(&empty)), MediaInfo::default());
        // A JPEG cut short inside its Exif: what is whole is read.
        let cut = jpeg()[..60].to_vec();
        let short = Sparse::new(60, vec![(0, cut)]);
        assert_eq!(block_on(read_media(&short)).location, None);
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
}
