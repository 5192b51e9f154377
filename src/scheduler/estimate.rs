//! How long a unit of work should take: the arithmetic the run planner
//! uses to start only what it expects to finish. Pure, so it is tested
//! without a run.

use super::Throughput;
use crate::crypto::CHUNK_SIZE;
use crate::protocol::PartPlan;
use crate::queue::item::Target;
use crate::queue::{Item, Step};

/// Plaintext hashed per step: long enough to be efficient, short enough that
/// a step fits a 25-second wake-up on a slow device.
pub const HASH_STEP_BYTES: u64 = 2 * CHUNK_SIZE as u64;
/// Server-side assembly of a multipart upload, bytes per ms (conservative).
const ASSEMBLY_BYTES_PER_MS: f64 = 100_000.0;
/// Making a thumbnail on the device.
const THUMBNAIL_MS: f64 = 300.0;

/// Whether the item's next step sends parts (so fewer at once is a smaller
/// unit worth trying when the time left is short).
pub fn has_parts_left(item: &Item) -> bool {
    match &item.step {
        Step::Uploading(upload) => {
            let plan = PartPlan::new(item.size.unwrap_or(0), upload.chunks_per_part);
            upload.thumbnail_sent()
                && upload.target.is_some()
                && (upload.etags.len() as u64) < u64::from(plan.part_count())
        }
        _ => false,
    }
}

/// Whether the item's next step sends its thumbnail and then its file's
/// only PUT (a file of at most two chunks, no object bound yet).
pub fn sends_with_thumbnail(item: &Item) -> bool {
    match &item.step {
        Step::Uploading(upload) => {
            let plan = PartPlan::new(item.size.unwrap_or(0), upload.chunks_per_part);
            !upload.thumbnail_sent()
                && upload.target.is_none()
                && matches!(plan, PartPlan::Single { .. })
        }
        _ => false,
    }
}

/// Parts of the item's next step that together take at most
/// `LOSS_WINDOW_MS` on the measured link
/// (at least one): what a kill mid-step throws away stays seconds of
/// upload on a slow link, while a fast one keeps every part busy.
pub fn parts_within_loss_window(item: &Item, throughput: &Throughput) -> u32 {
    let Step::Uploading(upload) = &item.step else {
        return 1;
    };
    let size = item.size.unwrap_or(0);
    let plan = PartPlan::new(size, upload.chunks_per_part);
    let next = u32::try_from(upload.etags.len()).unwrap_or(u32::MAX) + 1;
    let Some(part) = plan.part(size, next) else {
        return 1;
    };
    let window = throughput.upload_rate() * super::plan::LOSS_WINDOW_MS;
    let parts = (window / part.encrypted_len.max(1) as f64).floor();
    // Not `f64::clamp`: its NaN assertion formats floats, 10 KB of wasm.
    #[allow(
        clippy::manual_clamp,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )] // 1..=64
    let parts = parts.min(64.0).max(1.0) as u32;
    parts
}

/// How long the item's next step should take, with `parts` on the wire.
pub fn step_ms(item: &Item, throughput: &Throughput, parts: u32) -> f64 {
    let request = throughput.request_ms();
    let size = item.size.unwrap_or(0);
    match &item.step {
        // The first step hashes the first stretch too; before the source
        // is opened its size is unknown, and a small file's hash is
        // finished (the server's index, the upload prepared) in it.
        Step::Queued if item.size.is_none() => throughput.hash_ms(HASH_STEP_BYTES) + 2.0 * request,
        Step::Queued | Step::Hashing { .. } => {
            let hashed = match &item.step {
                Step::Hashing { hashed, .. } => *hashed,
                _ => 0,
            };
            let left = size.saturating_sub(hashed);
            let step = left.min(HASH_STEP_BYTES);
            // The last hashing step also indexes the server and prepares.
            let finish = if step == left { 2.0 * request } else { 0.0 };
            throughput.hash_ms(step) + finish
        }
        Step::Uploading(upload) => {
            let plan = PartPlan::new(size, upload.chunks_per_part);
            if !upload.thumbnail_sent() {
                // Perhaps URLs and the server's index first; a file of one
                // PUT goes in the same step.
                let thumbnail = 2.0 * request + THUMBNAIL_MS;
                if sends_with_thumbnail(item) {
                    let bytes = plan.encrypted_size();
                    return thumbnail + throughput.upload_ms(bytes) + throughput.hash_ms(bytes);
                }
                return thumbnail;
            }
            let Some(target) = &upload.target else {
                return 2.0 * request;
            };
            let done = u32::try_from(upload.etags.len()).unwrap_or(u32::MAX);
            if done < plan.part_count() {
                let last = plan.part_count().min(done + parts);
                let bytes: u64 = (done + 1..=last)
                    .filter_map(|n| plan.part(size, n))
                    .map(|p| p.encrypted_len)
                    .sum();
                // Encrypting runs at hundreds of MB/s: hashing's rate bounds it.
                return throughput.upload_ms(bytes) + throughput.hash_ms(bytes);
            }
            if !upload.completed && matches!(target, Target::Multipart(_)) {
                return request + plan.encrypted_size() as f64 / ASSEMBLY_BYTES_PER_MS;
            }
            request
        }
        Step::Done { .. } | Step::Skipped { .. } | Step::Failed(_) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ENCRYPTED_CHUNK_SIZE;
    use crate::protocol::api::{MultipartUrls, SealedMetadata, UploadUrl};
    use crate::queue::FileType;
    use crate::queue::item::{Thumbnail, Upload};

    const MIB: u64 = 1 << 20;

    /// Measured: 1,000 bytes/ms uploads, 100 ms requests, 10,000 bytes/ms
    /// hashing, so each term of an estimate is told apart.
    fn link() -> Throughput {
        Throughput {
            upload_bytes_per_ms: Some(1_000.0),
            request_ms: Some(100.0),
            hash_bytes_per_ms: Some(10_000.0),
        }
    }

    fn item(size: u64, step: Step) -> Item {
        let mut item = Item::sample(1, step);
        item.size = Some(size);
        item.new.file_type = FileType::Video;
        item
    }

    fn url() -> UploadUrl {
        UploadUrl {
            object_key: "k".into(),
            url: "u".into(),
        }
    }

    /// An upload of 5 chunks per part, thumbnail sent, `etags` parts done.
    fn uploading(target: Option<Target>, etags: usize, completed: bool) -> Step {
        Step::Uploading(Box::new(Upload {
            hash: String::new(),
            sealed_file_key: Vec::new(),
            header: Vec::new(),
            chunks_per_part: 5,
            target,
            etags: vec!["e".into(); etags],
            sealed_checkpoint: None,
            completed,
            thumbnail: Some(Thumbnail {
                url: url(),
                header: Vec::new(),
                size: 10,
                uploaded: true,
            }),
            metadata: SealedMetadata {
                encrypted_data: String::new(),
                decryption_header: String::new(),
            },
            bytes_sent: 0,
        }))
    }

    fn multipart(parts: usize) -> Option<Target> {
        Some(Target::Multipart(MultipartUrls {
            object_key: "k".into(),
            part_urls: vec!["p".into(); parts],
            complete_url: "c".into(),
        }))
    }

    #[test]
    fn a_photos_thumbnail_step_also_costs_its_one_put() {
        let mut photo = item(MIB, uploading(None, 0, false));
        let Step::Uploading(upload) = &mut photo.step else {
            unreachable!()
        };
        upload.thumbnail = None;
        assert!(sends_with_thumbnail(&photo));
        let bytes = crate::crypto::encrypted_size(MIB) as f64;
        assert_eq!(
            step_ms(&photo, &link(), 3),
            // URLs and index, the thumbnail, then one PUT: a request and
            // the bytes on the link and through the cipher.
            200.0 + THUMBNAIL_MS + 100.0 + bytes / 1_000.0 + bytes / 10_000.0
        );
        // A video's parts go in steps of their own.
        let mut video = item(60 * MIB, uploading(None, 0, false));
        let Step::Uploading(upload) = &mut video.step else {
            unreachable!()
        };
        upload.thumbnail = None;
        assert!(!sends_with_thumbnail(&video));
        assert_eq!(step_ms(&video, &link(), 3), 200.0 + THUMBNAIL_MS);
    }

    #[test]
    fn hashing_costs_one_step_of_bytes_and_the_last_step_also_prepares() {
        let big = 100 * MIB;
        let first = item(
            big,
            Step::Hashing {
                sealed_state: Vec::new(),
                hashed: 0,
            },
        );
        assert_eq!(
            step_ms(&first, &link(), 3),
            HASH_STEP_BYTES as f64 / 10_000.0
        );
        let last = item(
            big,
            Step::Hashing {
                sealed_state: Vec::new(),
                hashed: big - MIB,
            },
        );
        assert_eq!(step_ms(&last, &link(), 3), MIB as f64 / 10_000.0 + 200.0);
        // Queued, the first stretch is hashed in the same step.
        assert_eq!(
            step_ms(&item(big, Step::Queued), &link(), 3),
            HASH_STEP_BYTES as f64 / 10_000.0
        );
        let mut unknown = item(MIB, Step::Queued);
        unknown.size = None;
        assert_eq!(
            step_ms(&unknown, &link(), 3),
            HASH_STEP_BYTES as f64 / 10_000.0 + 200.0
        );
    }

    #[test]
    fn a_step_keeps_about_eight_seconds_of_the_link_on_the_wire() {
        // 60 MiB in parts of 5 chunks (20 MiB each).
        let upload = item(60 * MIB, uploading(multipart(3), 0, false));
        let rate = |bytes_per_ms| Throughput {
            upload_bytes_per_ms: Some(bytes_per_ms),
            ..link()
        };
        // 1 MB/s: 8 MB in 8 s, less than one part; one part still goes.
        assert_eq!(parts_within_loss_window(&upload, &rate(1_000.0)), 1);
        // 6 MB/s: 48 MB, two whole parts.
        assert_eq!(parts_within_loss_window(&upload, &rate(6_000.0)), 2);
        // Loopback: every part the host allows.
        assert!(parts_within_loss_window(&upload, &rate(500_000.0)) >= 6);
        // Steps that send no part are not held back.
        assert_eq!(
            parts_within_loss_window(&item(MIB, Step::Queued), &rate(1.0)),
            1
        );
    }

    #[test]
    fn parts_cost_their_encrypted_bytes_on_the_link_and_through_the_cipher() {
        // 60 MiB in parts of 5 chunks (20 MiB): three parts.
        let size = 60 * MIB;
        let part = 5.0 * ENCRYPTED_CHUNK_SIZE as f64;
        let upload = item(size, uploading(multipart(3), 1, false));
        assert!(has_parts_left(&upload));
        let one = step_ms(&upload, &link(), 1);
        assert_eq!(one, 100.0 + part / 1_000.0 + part / 10_000.0);
        // Two parts left: asking for three on the wire still costs two.
        let two = step_ms(&upload, &link(), 3);
        assert_eq!(two, 100.0 + 2.0 * part / 1_000.0 + 2.0 * part / 10_000.0);
    }

    #[test]
    fn completing_a_multipart_upload_waits_for_the_store_to_assemble_it() {
        let size = 60 * MIB;
        let sent = item(size, uploading(multipart(3), 3, false));
        assert!(!has_parts_left(&sent));
        let encrypted = PartPlan::new(size, 5).encrypted_size() as f64;
        assert_eq!(step_ms(&sent, &link(), 3), 100.0 + encrypted / 100_000.0);
        let completed = item(size, uploading(multipart(3), 3, true));
        assert_eq!(
            step_ms(&completed, &link(), 3),
            100.0,
            "only registering is left"
        );
    }

    #[test]
    fn before_its_urls_an_upload_costs_requests_and_no_parts_are_left() {
        let waiting = item(MIB, uploading(None, 0, false));
        assert!(!has_parts_left(&waiting));
        assert_eq!(step_ms(&waiting, &link(), 3), 200.0);
        let single = item(MIB, uploading(Some(Target::Single(url())), 0, false));
        assert!(has_parts_left(&single));
        assert_eq!(
            step_ms(
                &item(
                    1,
                    Step::Failed(crate::queue::ItemError {
                        code: "X".into(),
                        message: String::new(),
                    })
                ),
                &link(),
                3
            ),
            0.0
        );
    }
}
