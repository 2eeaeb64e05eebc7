//! Wall-clock helpers. DynamoDB TTL wants epoch *seconds*; job timestamps are milliseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn since_epoch() -> Duration {
    // A clock before 1970 is not a state a Lambda runs in; treat it as the epoch.
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

pub fn epoch_seconds() -> u64 {
    since_epoch().as_secs()
}

pub fn epoch_millis() -> i64 {
    i64::try_from(since_epoch().as_millis()).unwrap_or(i64::MAX)
}

/// The TTL attribute value for something that should disappear `ttl` from now.
pub fn expires_in(ttl: Duration) -> u64 {
    epoch_seconds() + ttl.as_secs()
}

/// The sub-second part of the clock, in nanoseconds: a cheap jitter source for retry backoff.
pub fn now_nanos_fraction() -> u32 {
    since_epoch().subsec_nanos()
}
