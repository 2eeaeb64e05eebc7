//! [`RecordingPusher`]: what was pushed, with scriptable 410s and throttling.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::lock;
use crate::ids::ConnectionId;
use crate::ports::*;
use crate::protocol::ServerMessage;

#[derive(Debug, Default)]
struct PushState {
    sent: Vec<(ConnectionId, Vec<u8>)>,
    gone: HashSet<ConnectionId>,
    throttled: HashMap<ConnectionId, usize>,
    attempts: HashMap<ConnectionId, usize>,
    closed: Vec<ConnectionId>,
}

/// A [`Pusher`] that records what it was asked to send, with scriptable 410s and throttling.
#[derive(Debug, Default)]
pub struct RecordingPusher {
    state: Mutex<PushState>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl RecordingPusher {
    pub fn mark_gone(&self, connection: &ConnectionId) {
        lock(&self.state).gone.insert(connection.clone());
    }

    /// The next `times` pushes to `connection` are throttled.
    pub fn throttle(&self, connection: &ConnectionId, times: usize) {
        lock(&self.state).throttled.insert(connection.clone(), times);
    }

    pub fn attempts(&self, connection: &ConnectionId) -> usize {
        lock(&self.state).attempts.get(connection).copied().unwrap_or(0)
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Every delivered message, decoded, in delivery order.
    pub fn sent(&self) -> Vec<(ConnectionId, ServerMessage)> {
        lock(&self.state)
            .sent
            .iter()
            .map(|(connection, bytes)| {
                let message = serde_json::from_slice(bytes)
                    .unwrap_or_else(|e| panic!("pushed bytes are not a server message: {e}"));
                (connection.clone(), message)
            })
            .collect()
    }

    /// The connections closed from the server side, in order.
    pub fn closed(&self) -> Vec<ConnectionId> {
        lock(&self.state).closed.clone()
    }

    /// The messages delivered to one connection.
    pub fn sent_to(&self, connection: &ConnectionId) -> Vec<ServerMessage> {
        self.sent().into_iter().filter(|(c, _)| c == connection).map(|(_, m)| m).collect()
    }
}

impl Pusher for RecordingPusher {
    async fn push(&self, connection: &ConnectionId, payload: &[u8]) -> Result<(), PushError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Let other pushes of the same fan-out start, so the concurrency bound is observable.
        tokio::task::yield_now().await;
        let outcome = {
            let mut state = lock(&self.state);
            *state.attempts.entry(connection.clone()).or_default() += 1;
            if state.gone.contains(connection) {
                Err(PushError::Gone)
            } else if let Some(left @ 1..) = state.throttled.get_mut(connection) {
                *left -= 1;
                Err(PushError::Throttled)
            } else {
                state.sent.push((connection.clone(), payload.to_vec()));
                Ok(())
            }
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    async fn close(&self, connection: &ConnectionId) -> Result<(), PushError> {
        let mut state = lock(&self.state);
        state.closed.push(connection.clone());
        state.gone.insert(connection.clone());
        Ok(())
    }
}
