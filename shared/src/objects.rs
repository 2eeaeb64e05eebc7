//! Writing an object of unbounded size in bounded memory: one part buffered at a time.

use crate::ports::{ObjectParts, StoreError};

/// S3's smallest part (but the last): 5 MiB.
pub const MIN_PART_BYTES: usize = 5 << 20;

/// An object written in pieces. Small objects (under one part) are a single `PutObject`;
/// larger ones a multipart upload holding at most one part in memory.
#[derive(Debug)]
pub struct StreamingObject<'a, O: ObjectParts> {
    store: &'a O,
    key: String,
    content_type: &'static str,
    part_bytes: usize,
    buffer: Vec<u8>,
    upload: Option<O::Upload>,
    /// Bytes written so far, for the log.
    pub written: u64,
}

impl<'a, O: ObjectParts> StreamingObject<'a, O> {
    pub fn new(store: &'a O, key: String, content_type: &'static str, part_bytes: usize) -> Self {
        StreamingObject { store, key, content_type, part_bytes, buffer: Vec::new(), upload: None, written: 0 }
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.buffer.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
        if self.buffer.len() >= self.part_bytes {
            let part = std::mem::take(&mut self.buffer);
            let upload = match &mut self.upload {
                Some(upload) => upload,
                None => self.upload.insert(self.store.begin_upload(&self.key, self.content_type).await?),
            };
            self.store.upload_part(upload, part).await?;
        }
        Ok(())
    }

    pub async fn finish(mut self) -> Result<(), StoreError> {
        let last = std::mem::take(&mut self.buffer);
        match self.upload.take() {
            None => self.store.put(&self.key, last, self.content_type).await,
            Some(mut upload) => {
                if !last.is_empty() {
                    self.store.upload_part(&mut upload, last).await?;
                }
                self.store.complete_upload(upload).await
            }
        }
    }

    /// Gives up on the object; parts already sent are discarded.
    pub async fn abort(mut self) {
        if let Some(upload) = self.upload.take() {
            self.store.abort_upload(upload).await;
        }
    }
}
