//! SQS adapters: the chunk queue ([`ChunkQueue`]) and the unprocessable queue ([`Unprocessable`]).

use anyhow::Context as _;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::ports::{ChunkQueue, StoreError, Unprocessable};
use crate::queue::ChunkMessage;

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

/// The unprocessable queue over SQS: it has no consumer, so what is parked there stays until
/// an operator reads it (or its retention ends).
#[derive(Debug, Clone)]
pub struct SqsUnprocessable {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsUnprocessable {
    pub fn new(sdk: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        SqsUnprocessable { client: aws_sdk_sqs::Client::new(sdk), queue_url: queue_url.into() }
    }
}

impl Unprocessable for SqsUnprocessable {
    async fn park(&self, body: &str) -> Result<(), StoreError> {
        // SQS refuses an empty body; an empty message is still worth keeping as evidence.
        let body = if body.is_empty() { "(empty message)" } else { body };
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .context("parking an unprocessable message")?;
        Ok(())
    }
}
