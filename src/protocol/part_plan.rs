//! How a file's ciphertext is cut into upload requests.
//!
//! Parts are whole encrypted chunks, so a part can be encrypted, sent and
//! checkpointed on its own, and a resumed upload restarts exactly at a part
//! boundary. Files of at most two chunks go in one PUT; larger ones as a
//! multipart upload of `chunks_per_part` chunks a part (2 to 5, so every part
//! but the last is at least S3's 5 MiB minimum), the last part holding what
//! is left.

use crate::crypto::{CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, chunk_count, encrypted_size};

/// Fewest chunks in a multipart part: 2 × (4 MiB + 17) ≥ 5 MiB.
pub const MIN_CHUNKS_PER_PART: u32 = 2;
/// Most chunks in a part: bounds the memory a part in flight needs.
pub const MAX_CHUNKS_PER_PART: u32 = 5;
/// Files of at most this many chunks are uploaded with a single PUT.
pub const MAX_SINGLE_PUT_CHUNKS: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartPlan {
    /// One PUT of the whole ciphertext.
    Single { chunks: u64, encrypted_size: u64 },
    /// `parts` parts of `chunks_per_part` chunks, the last possibly fewer.
    Multipart {
        chunks: u64,
        chunks_per_part: u32,
        parts: u32,
        encrypted_size: u64,
    },
}

/// One part: which plaintext chunks it carries and its ciphertext size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// 1-based, as S3 numbers parts.
    pub number: u32,
    pub first_chunk: u64,
    pub chunks: u64,
    pub plaintext_offset: u64,
    pub plaintext_len: u64,
    pub encrypted_len: u64,
}

impl PartPlan {
    /// The plan for a plaintext of `size` bytes; `chunks_per_part` is clamped
    /// to 2..=5 (the scheduler picks it from the measured throughput).
    pub fn new(size: u64, chunks_per_part: u32) -> Self {
        let chunks = chunk_count(size);
        let encrypted_size = encrypted_size(size);
        if chunks <= MAX_SINGLE_PUT_CHUNKS {
            return Self::Single {
                chunks,
                encrypted_size,
            };
        }
        let per_part = chunks_per_part.clamp(MIN_CHUNKS_PER_PART, MAX_CHUNKS_PER_PART);
        let parts = chunks.div_ceil(u64::from(per_part));
        Self::Multipart {
            chunks,
            chunks_per_part: per_part,
            parts: u32::try_from(parts).unwrap_or(u32::MAX),
            encrypted_size,
        }
    }

    pub fn encrypted_size(&self) -> u64 {
        match *self {
            Self::Single { encrypted_size, .. } | Self::Multipart { encrypted_size, .. } => {
                encrypted_size
            }
        }
    }

    pub fn part_count(&self) -> u32 {
        match *self {
            Self::Single { .. } => 1,
            Self::Multipart { parts, .. } => parts,
        }
    }

    /// Part `number` (1-based) of a file of `size` plaintext bytes.
    pub fn part(&self, size: u64, number: u32) -> Option<Part> {
        let (chunks, per_part) = match *self {
            Self::Single { chunks, .. } => (chunks, chunks),
            Self::Multipart {
                chunks,
                chunks_per_part,
                ..
            } => (chunks, u64::from(chunks_per_part)),
        };
        if number == 0 || number > self.part_count() {
            return None;
        }
        let first_chunk = u64::from(number - 1) * per_part;
        let part_chunks = per_part.min(chunks - first_chunk);
        let plaintext_offset = first_chunk * CHUNK_SIZE as u64;
        let plaintext_len = size
            .saturating_sub(plaintext_offset)
            .min(part_chunks * CHUNK_SIZE as u64);
        let encrypted_len =
            plaintext_len + part_chunks * (ENCRYPTED_CHUNK_SIZE - CHUNK_SIZE) as u64;
        Some(Part {
            number,
            first_chunk,
            chunks: part_chunks,
            plaintext_offset,
            plaintext_len,
            encrypted_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn small_files_are_one_put() {
        for size in [0, 1, 4 * MIB, 8 * MIB] {
            let plan = PartPlan::new(size, 5);
            assert!(matches!(plan, PartPlan::Single { .. }), "{size}");
            let part = plan.part(size, 1).unwrap();
            assert_eq!(part.encrypted_len, encrypted_size(size));
            assert_eq!(plan.part(size, 2), None);
        }
    }

    #[test]
    fn multipart_parts_tile_the_file_and_respect_s3_minimums() {
        for size in [8 * MIB + 1, 20 * MIB, 50 * MIB, 50 * MIB + 3, 1000 * MIB] {
            for per_part in [0, 2, 3, 5, 9] {
                let plan = PartPlan::new(size, per_part);
                let PartPlan::Multipart {
                    chunks_per_part, ..
                } = plan
                else {
                    panic!("{size} must be multipart");
                };
                assert!((2..=5).contains(&chunks_per_part));
                let mut next_offset = 0;
                let mut total = 0;
                for n in 1..=plan.part_count() {
                    let part = plan.part(size, n).unwrap();
                    assert_eq!(part.plaintext_offset, next_offset);
                    next_offset += part.plaintext_len;
                    total += part.encrypted_len;
                    if n < plan.part_count() {
                        assert!(part.encrypted_len >= 5 * MIB, "part {n} of {size}");
                        assert_eq!(part.chunks, u64::from(chunks_per_part));
                    }
                }
                assert_eq!(next_offset, size);
                assert_eq!(total, plan.encrypted_size());
                assert_eq!(plan.part(size, plan.part_count() + 1), None);
            }
        }
    }
}
