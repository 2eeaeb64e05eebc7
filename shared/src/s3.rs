//! S3 adapter: [`ObjectStore`], [`ObjectParts`] (multipart upload) and [`UrlSigner`].

use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::ports::{ObjectError, ObjectParts, ObjectStore, StoreError, UrlSigner};

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

/// A multipart upload to the jobcast bucket in progress.
#[derive(Debug)]
pub struct S3Upload {
    key: String,
    upload_id: String,
    parts: Vec<CompletedPart>,
}

impl ObjectParts for S3Store {
    type Upload = S3Upload;

    async fn begin_upload(&self, key: &str, content_type: &str) -> Result<S3Upload, StoreError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .with_context(|| format!("starting a multipart upload of {key}"))?;
        let upload_id = out.upload_id().context("S3 returned no upload id")?.to_owned();
        Ok(S3Upload { key: key.to_owned(), upload_id, parts: Vec::new() })
    }

    async fn upload_part(&self, upload: &mut S3Upload, body: Vec<u8>) -> Result<(), StoreError> {
        let number = i32::try_from(upload.parts.len() + 1).context("too many parts")?;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .with_context(|| format!("uploading part {number} of {}", upload.key))?;
        upload
            .parts
            .push(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag().map(str::to_owned)).build());
        Ok(())
    }

    async fn complete_upload(&self, upload: S3Upload) -> Result<(), StoreError> {
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(upload.parts)).build())
            .send()
            .await
            .with_context(|| format!("completing the multipart upload of {}", upload.key))?;
        Ok(())
    }

    async fn abort_upload(&self, upload: S3Upload) {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .send()
            .await;
        if let Err(err) = aborted {
            tracing::warn!(key = %upload.key, error = %err, "could not abort a multipart upload; the lifecycle rule removes it");
        }
    }
}
