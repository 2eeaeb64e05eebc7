//! The SQS fakes: [`RecordingQueue`] and [`ParkedMessages`].

use std::sync::Mutex;

use super::lock;
use crate::ports::*;

/// A [`ChunkQueue`] that records what was enqueued.
#[derive(Debug, Default)]
pub struct RecordingQueue {
    sent: Mutex<Vec<crate::queue::ChunkMessage>>,
}

impl RecordingQueue {
    pub fn sent(&self) -> Vec<crate::queue::ChunkMessage> {
        lock(&self.sent).clone()
    }
}

impl ChunkQueue for RecordingQueue {
    async fn enqueue(&self, messages: &[crate::queue::ChunkMessage]) -> Result<(), StoreError> {
        lock(&self.sent).extend_from_slice(messages);
        Ok(())
    }
}

/// An [`Unprocessable`] queue that records what was parked.
#[derive(Debug, Default)]
pub struct ParkedMessages {
    parked: Mutex<Vec<String>>,
}

impl ParkedMessages {
    pub fn parked(&self) -> Vec<String> {
        lock(&self.parked).clone()
    }
}

impl Unprocessable for ParkedMessages {
    async fn park(&self, body: &str) -> Result<(), StoreError> {
        lock(&self.parked).push(body.to_owned());
        Ok(())
    }
}
