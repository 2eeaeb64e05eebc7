//! Identifier newtypes. Each is parsed once, at the edge, and is valid from then on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a raw string was refused as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub reason: &'static str,
}

/// Declares a string identifier with a length bound and an allowed alphabet.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, max = $max:literal, allowed = $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: impl Into<String>) -> Result<Self, InvalidId> {
                let raw = raw.into();
                let fail = |reason| Err(InvalidId { kind: $kind, reason });
                if raw.is_empty() {
                    return fail("empty");
                }
                if raw.len() > $max {
                    return fail(concat!("longer than ", $max, " bytes"));
                }
                let allowed: fn(char) -> bool = $allowed;
                if !raw.chars().all(allowed) {
                    return fail("contains a character outside its alphabet");
                }
                Ok(Self(raw))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A job's id: URL- and S3-key-safe, so it can sit in paths and object keys unescaped.
    JobId, "job id", max = 64,
    allowed = |c| c.is_ascii_alphanumeric() || c == '-' || c == '_'
);

string_id!(
    /// The `sub` of a verified token. No `/`, because it becomes a segment of S3 keys.
    UserId, "user id", max = 128,
    allowed = |c| c.is_ascii_alphanumeric() || "-_.@|:+".contains(c)
);

string_id!(
    /// An API Gateway WebSocket connection id (base64-like, e.g. `L0SM9cOFvHcCIhw=`).
    ConnectionId, "connection id", max = 128,
    allowed = |c| c.is_ascii_alphanumeric() || "+/=_-".contains(c)
);

impl JobId {
    /// A fresh random id for a new job (a UUID v4 without dashes).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
}

/// The position of a chunk within its job, `0..chunks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct ChunkIndex(u32);

impl ChunkIndex {
    /// More chunks than this is a planning bug, not a real document.
    pub const MAX: u32 = 100_000;

    pub fn parse(raw: u64) -> Result<Self, InvalidId> {
        match u32::try_from(raw) {
            Ok(n) if n < Self::MAX => Ok(Self(n)),
            _ => Err(InvalidId { kind: "chunk index", reason: "out of range" }),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u64> for ChunkIndex {
    type Error = InvalidId;
    fn try_from(raw: u64) -> Result<Self, Self::Error> {
        Self::parse(raw)
    }
}

impl From<ChunkIndex> for u64 {
    fn from(c: ChunkIndex) -> u64 {
        u64::from(c.0)
    }
}

impl fmt::Display for ChunkIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_their_alphabet_and_refuse_the_rest() {
        assert!(JobId::parse("job-1_A").is_ok());
        assert!(JobId::parse("").is_err());
        assert!(JobId::parse("a/b").is_err());
        assert!(JobId::parse("x".repeat(65)).is_err());
        assert!(UserId::parse("auth0|abc@example.com").is_ok());
        assert!(UserId::parse("../etc").is_err());
        assert!(ConnectionId::parse("L0SM9cOFvHcCIhw=").is_ok());
        assert!(ConnectionId::parse("bad id").is_err());
    }

    #[test]
    fn generated_job_ids_are_valid_and_distinct() {
        let a = JobId::generate();
        let b = JobId::generate();
        assert_ne!(a, b);
        assert_eq!(JobId::parse(a.as_str()), Ok(a));
    }

    #[test]
    fn ids_deserialize_through_parse() {
        let bad: Result<JobId, _> = serde_json::from_str("\"a b\"");
        assert!(bad.is_err());
        let chunk: ChunkIndex = serde_json::from_str("7").expect("valid index");
        assert_eq!(chunk.get(), 7);
        assert!(serde_json::from_str::<ChunkIndex>("100000").is_err());
    }
}
