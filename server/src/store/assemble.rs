//! Writes a completed multipart upload's object in the layout s3s-fs
//! (pinned `=0.14.1`) reads back: the bytes at `<root>/<bucket>/<key>`, the
//! ETag in `.bucket-<bucket>.object-<key>.internal.json` (names in unpadded
//! URL-safe base64), and the attributes given when the upload was created
//! moved from the upload's metadata file to the object's.
//!
//! s3s-fs's own Complete reads every part back in 64 KiB asynchronous reads
//! and hashes it again with MD5: 0.8 s for 256 MiB on a 2-core machine, a
//! wait every multipart upload pays before it can register. Here each
//! part's MD5 was recorded when it was stored and checked before this runs,
//! so the ETag comes from those, and the parts are joined by the kernel
//! (`std::io::copy` between two files is `copy_file_range` on Linux).
//!
//! Safe against a process crash in this order: the object is written aside
//! and renamed into place, its ETag record likewise, and the upload's own
//! records (its id, its parts) are removed only by `remove_upload`, after
//! the caller has recorded the completion. A crash anywhere before that
//! leaves an upload a retried Complete finishes. Nothing is synced to disk
//! (nor was it by s3s-fs): a power cut may still lose a completed object.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// One multipart upload's stored pieces.
#[derive(Debug)]
pub struct Upload {
    pub root: PathBuf,
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    /// Parts 1 to `parts`, in that order, make the object.
    pub parts: usize,
}

impl Upload {
    pub fn part_path(&self, number: usize) -> PathBuf {
        self.root
            .join(format!("{}{number}", part_prefix(&self.upload_id)))
    }

    fn object_path(&self) -> io::Result<PathBuf> {
        // Keys come from signed URLs, which only the server makes; still,
        // nothing but plain names may reach a path.
        let plain = |s: &str| {
            !s.is_empty()
                && Path::new(s)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)))
        };
        if !plain(&self.bucket) || !plain(&self.key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a plain bucket and key",
            ));
        }
        Ok(self.root.join(&self.bucket).join(&self.key))
    }

    /// s3s-fs's record file for the object, or for the upload (`upload`).
    fn record_path(&self, upload: bool, suffix: &str) -> PathBuf {
        let upload = if upload {
            format!(".upload-{}", self.upload_id)
        } else {
            String::new()
        };
        self.root.join(format!(
            ".bucket-{}.object-{}{upload}.{suffix}",
            URL_SAFE_NO_PAD.encode(&self.bucket),
            URL_SAFE_NO_PAD.encode(&self.key)
        ))
    }

    /// Makes the object from the parts and records `etag` as its ETag. A
    /// failure (a full disk, say) leaves nothing written aside behind.
    pub fn assemble(&self, etag: &str) -> io::Result<()> {
        // Names s3s-fs removes at start-up, should a crash leave them.
        let aside = self
            .root
            .join(format!(".tmp.ferry-{}.internal.part", self.upload_id));
        let etag_aside = self
            .root
            .join(format!(".tmp.ferry-{}-etag.internal.part", self.upload_id));
        let written = self.write(&aside, &etag_aside, etag);
        if written.is_err() {
            let _ = fs::remove_file(&aside);
            let _ = fs::remove_file(&etag_aside);
        }
        written
    }

    fn write(&self, aside: &Path, etag_aside: &Path, etag: &str) -> io::Result<()> {
        let object = self.object_path()?;
        let mut out = fs::File::create(aside)?;
        for number in 1..=self.parts {
            io::copy(&mut fs::File::open(self.part_path(number))?, &mut out)?;
        }
        drop(out);
        if let Some(dir) = object.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::rename(aside, &object)?;

        // Only the ETag: checksums an earlier object at this key recorded
        // are not this one's.
        fs::write(etag_aside, serde_json::json!({ "e_tag": etag }).to_string())?;
        fs::rename(etag_aside, self.record_path(false, "internal.json"))?;

        match fs::rename(
            self.record_path(true, "metadata.json"),
            self.record_path(false, "metadata.json"),
        ) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Forgets the upload: its id and every part stored for it, with the
    /// part's recorded MD5, listed in the Complete or not (S3 discards the
    /// others). Once the completion is recorded, a repeat of the Complete
    /// is answered from that record.
    pub fn remove_upload(&self) {
        let _ = fs::remove_file(self.root.join(upload_record(&self.upload_id)));
        let prefixes = [
            part_prefix(&self.upload_id),
            part_etag_prefix(&self.upload_id),
        ];
        for entry in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// s3s-fs's record of an upload in progress (its id's file).
pub fn upload_record(upload_id: &str) -> String {
    format!(".upload-{upload_id}.json")
}

/// The name of an upload's stored part, less the part's number (s3s-fs's).
pub fn part_prefix(upload_id: &str) -> String {
    format!(".upload_id-{upload_id}.part-")
}

/// The name of the file that keeps a part's MD5, less the part's number:
/// recorded as the part is stored, so that Complete need not read it again.
pub fn part_etag_prefix(upload_id: &str) -> String {
    format!(".ferry-etag-{upload_id}.part-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(root: &Path, parts: usize) -> Upload {
        Upload {
            root: root.to_path_buf(),
            upload_id: "0f0e0d0c-0b0a-0908-0706-050403020100".into(),
            bucket: "ferry".into(),
            key: "1/object".into(),
            parts,
        }
    }

    #[test]
    fn parts_join_in_order_under_their_etag() {
        let dir = tempfile::tempdir().unwrap();
        let upload = upload(dir.path(), 2);
        fs::write(upload.part_path(1), b"first ").unwrap();
        fs::write(upload.part_path(2), b"second").unwrap();
        upload.assemble("abc-2").unwrap();
        let object = dir.path().join("ferry/1/object");
        assert_eq!(fs::read(object).unwrap(), b"first second");
        let info = fs::read_to_string(upload.record_path(false, "internal.json")).unwrap();
        assert_eq!(info, r#"{"e_tag":"abc-2"}"#);
    }

    #[test]
    fn a_failed_assembly_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        // Part 2 is missing: the copy fails after part 1 was written aside.
        let upload = upload(dir.path(), 2);
        fs::write(upload.part_path(1), b"first").unwrap();
        assert!(upload.assemble("abc-2").is_err());
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, [format!("{}1", part_prefix(&upload.upload_id))]);
    }

    #[test]
    fn only_plain_names_reach_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut upload = upload(dir.path(), 0);
        upload.key = "../escape".into();
        assert_eq!(
            upload.assemble("x").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
