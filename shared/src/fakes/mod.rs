//! In-memory fakes of every port, for handler unit tests (feature `test-util`).
//! They keep the adapters' semantics (idempotent chunk marks, exactly-once merge, gone
//! connections), but they never stand in for the integration tests against the local AWS.

use std::sync::{Mutex, MutexGuard};

mod objects;
mod push;
mod queues;
mod store;

pub use objects::{InMemoryObjects, MemoryUpload, ObjectCalls};
pub use push::RecordingPusher;
pub use queues::{ParkedMessages, RecordingQueue};
pub use store::InMemoryStore;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread poisons the lock; the data is still fine for the next assertion.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
