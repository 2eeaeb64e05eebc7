//! Object keys in the jobcast bucket, in one place.
//!
//! `uploads/<userId>/<jobId>.pdf` (browser PUT, presigned) → `chunks/<jobId>/<index>.pdf`
//! (planner) → `results/<jobId>/chunks/<index>.json` (workers) → `results/<jobId>/result.json`
//! and `result.txt` (merge).

use crate::ids::{ChunkIndex, JobId, UserId};

pub const UPLOADS_PREFIX: &str = "uploads/";

pub fn upload(user: &UserId, job: &JobId) -> String {
    format!("{UPLOADS_PREFIX}{user}/{job}.pdf")
}

/// The owner and job an upload key names, or `None` for any other key.
pub fn parse_upload(key: &str) -> Option<(UserId, JobId)> {
    let rest = key.strip_prefix(UPLOADS_PREFIX)?;
    let (user, file) = rest.split_once('/')?;
    let job = file.strip_suffix(".pdf")?;
    Some((UserId::parse(user).ok()?, JobId::parse(job).ok()?))
}

pub fn chunk(job: &JobId, index: ChunkIndex) -> String {
    format!("chunks/{job}/{:05}.pdf", index.get())
}

pub fn chunk_result(job: &JobId, index: ChunkIndex) -> String {
    format!("results/{job}/chunks/{:05}.json", index.get())
}

pub fn manifest(job: &JobId) -> String {
    format!("results/{job}/manifest.json")
}

pub fn result_json(job: &JobId) -> String {
    format!("results/{job}/result.json")
}

pub fn result_text(job: &JobId) -> String {
    format!("results/{job}/result.txt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_round_trip_and_foreign_keys_are_refused() {
        let user = UserId::parse("alice").expect("id");
        let job = JobId::parse("j1").expect("id");
        assert_eq!(parse_upload(&upload(&user, &job)), Some((user, job)));
        for key in [
            "uploads/alice/j1.txt",
            "uploads/j1.pdf",
            "other/alice/j1.pdf",
            "uploads/al ice/j1.pdf",
            "uploads/alice/x/j1.pdf",
        ] {
            assert_eq!(parse_upload(key), None, "{key}");
        }
    }
}
