//! [`InMemoryObjects`]: an in-memory bucket, counting the S3 requests it stands for.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::lock;
use crate::ports::*;

/// An in-memory bucket: [`ObjectStore`] and [`UrlSigner`] (URLs are `memory://` placeholders).
#[derive(Debug, Default)]
pub struct InMemoryObjects {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    calls: Mutex<ObjectCalls>,
    /// Sizes of every part uploaded, for tests that check memory stays one part deep.
    parts: Mutex<Vec<usize>>,
    /// Reads of keys under this prefix fail as S3 would on a transient error.
    failing_prefix: Mutex<Option<String>>,
}

/// The requests [`InMemoryObjects`] received through the ports, named by the S3 operation each
/// stands for (set-up helpers such as `insert` do not count). Presigning sends no request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ObjectCalls {
    /// [`ObjectStore::get`]: the S3 adapter sends a `HeadObject` and then a `GetObject` for each.
    pub gets: usize,
    /// `PutObject`.
    pub puts: usize,
    /// `CreateMultipartUpload`.
    pub uploads_started: usize,
    /// `UploadPart`.
    pub parts: usize,
    /// `CompleteMultipartUpload`.
    pub uploads_completed: usize,
    /// `AbortMultipartUpload`.
    pub uploads_aborted: usize,
}

/// A multipart upload in progress in [`InMemoryObjects`].
#[derive(Debug)]
pub struct MemoryUpload {
    key: String,
    body: Vec<u8>,
}

impl InMemoryObjects {
    pub fn insert(&self, key: &str, body: Vec<u8>) {
        lock(&self.objects).insert(key.to_owned(), body);
    }

    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        lock(&self.objects).get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        lock(&self.objects).keys().cloned().collect()
    }

    /// From now on, every read of a key under `prefix` fails with an unexpected (retryable) error.
    pub fn fail_reads_of(&self, prefix: &str) {
        *lock(&self.failing_prefix) = Some(prefix.to_owned());
    }

    /// The size of every part uploaded so far, in order.
    pub fn part_sizes(&self) -> Vec<usize> {
        lock(&self.parts).clone()
    }

    /// The requests received so far.
    pub fn calls(&self) -> ObjectCalls {
        *lock(&self.calls)
    }

    fn called(&self, count: impl FnOnce(&mut ObjectCalls) -> &mut usize) {
        *count(&mut lock(&self.calls)) += 1;
    }
}

impl ObjectParts for InMemoryObjects {
    type Upload = MemoryUpload;

    async fn begin_upload(&self, key: &str, _content_type: &str) -> Result<MemoryUpload, StoreError> {
        self.called(|c| &mut c.uploads_started);
        Ok(MemoryUpload { key: key.to_owned(), body: Vec::new() })
    }

    async fn upload_part(&self, upload: &mut MemoryUpload, body: Vec<u8>) -> Result<(), StoreError> {
        self.called(|c| &mut c.parts);
        lock(&self.parts).push(body.len());
        upload.body.extend(body);
        Ok(())
    }

    async fn complete_upload(&self, upload: MemoryUpload) -> Result<(), StoreError> {
        self.called(|c| &mut c.uploads_completed);
        self.insert(&upload.key, upload.body);
        Ok(())
    }

    async fn abort_upload(&self, _upload: MemoryUpload) {
        self.called(|c| &mut c.uploads_aborted);
    }
}

impl ObjectStore for InMemoryObjects {
    async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, ObjectError> {
        self.called(|c| &mut c.gets);
        if lock(&self.failing_prefix).as_deref().is_some_and(|prefix| key.starts_with(prefix)) {
            return Err(ObjectError::Unexpected(anyhow::anyhow!("injected: S3 is unavailable")));
        }
        let body = self.object(key).ok_or(ObjectError::NotFound)?;
        let size = body.len() as u64;
        if size > max_bytes {
            return Err(ObjectError::TooLarge { size, max: max_bytes });
        }
        Ok(body)
    }

    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), StoreError> {
        self.called(|c| &mut c.puts);
        self.insert(key, body);
        Ok(())
    }
}

impl UrlSigner for InMemoryObjects {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: std::time::Duration,
    ) -> Result<String, StoreError> {
        Ok(format!("memory://put/{key}?type={content_type}&length={content_length}&ttl={}", ttl.as_secs()))
    }

    async fn presign_get(&self, key: &str, ttl: std::time::Duration) -> Result<String, StoreError> {
        Ok(format!("memory://get/{key}?ttl={}", ttl.as_secs()))
    }
}
