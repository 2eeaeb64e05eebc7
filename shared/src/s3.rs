//! S3 adapter ([`ObjectStore`], [`UrlSigner`]) and the SQS chunk queue adapter.

use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::ports::{ChunkQueue, ObjectError, ObjectStore, StoreError, UrlSigner};
use crate::queue::ChunkMessage;

/// The jobcast bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    /// `force_path_style` is for the local stack, whose bucket host names do not resolve.
    pub fn new(sdk: &aws_config::SdkConfig, bucket: impl Into<String>, force_path_style: bool) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(force_path_style).build();
        S3Store { client: aws_sdk_s3::Client::from_conf(config), bucket: bucket.into() }
    }
}

impl ObjectStore for S3Store {
    async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, ObjectError> {
        // HEAD first, so an oversized object is refused before a byte of it is downloaded.
        let head = self.client.head_object().bucket(&self.bucket).key(key).send().await;
        let size = match head {
            Ok(head) => head.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            Err(err) => {
                return Err(match err.into_service_error() {
                    HeadObjectError::NotFound(_) => ObjectError::NotFound,
                    other => ObjectError::Unexpected(anyhow::Error::new(other).context("head_object")),
                });
            }
        };
        if size > max_bytes {
            return Err(ObjectError::TooLarge { size, max: max_bytes });
        }
        let object = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(object) => object,
            Err(err) => {
                return Err(match err.into_service_error() {
                    GetObjectError::NoSuchKey(_) => ObjectError::NotFound,
                    other => ObjectError::Unexpected(anyhow::Error::new(other).context("get_object")),
                });
            }
        };
        let body = object.body.collect().await.context("reading an object body")?.into_bytes();
        if body.len() as u64 > max_bytes {
            return Err(ObjectError::TooLarge { size: body.len() as u64, max: max_bytes });
        }
        Ok(body.to_vec())
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .with_context(|| format!("writing {key}"))?;
        Ok(())
    }
}

impl UrlSigner for S3Store {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let length = i64::try_from(content_length).context("content length out of range")?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .presigned(PresigningConfig::expires_in(ttl).context("presigning ttl")?)
            .await
            .context("presigning an upload")?;
        Ok(request.uri().to_owned())
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(PresigningConfig::expires_in(ttl).context("presigning ttl")?)
            .await
            .context("presigning a download")?;
        Ok(request.uri().to_owned())
    }
}

/// The chunk queue over SQS.
#[derive(Debug, Clone)]
pub struct SqsChunkQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsChunkQueue {
    pub fn new(sdk: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        SqsChunkQueue { client: aws_sdk_sqs::Client::new(sdk), queue_url: queue_url.into() }
    }
}

/// `SendMessageBatch` takes at most 10 entries.
const SQS_BATCH: usize = 10;

impl ChunkQueue for SqsChunkQueue {
    async fn enqueue(&self, messages: &[ChunkMessage]) -> Result<(), StoreError> {
        for batch in messages.chunks(SQS_BATCH) {
            let mut pending: Vec<(String, String)> = batch
                .iter()
                .enumerate()
                .map(|(i, m)| Ok((i.to_string(), serde_json::to_string(m)?)))
                .collect::<Result<_, serde_json::Error>>()
                .context("serializing chunk messages")?;
            // Entries can fail one by one (throttling); resend those, a few times.
            for _attempt in 0..3 {
                if pending.is_empty() {
                    break;
                }
                let entries = pending
                    .iter()
                    .map(|(id, body)| SendMessageBatchRequestEntry::builder().id(id).message_body(body).build())
                    .collect::<Result<Vec<_>, _>>()
                    .context("building a batch entry")?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .context("sending chunk messages")?;
                let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
                pending.retain(|(id, _)| failed.contains(&id.as_str()));
            }
            if !pending.is_empty() {
                return Err(anyhow::anyhow!("SQS refused {} chunk messages", pending.len()).into());
            }
        }
        Ok(())
    }
}
