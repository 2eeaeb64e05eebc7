//! Typed configuration, read once per cold start from the environment the template sets.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl ConfigError {
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid { name, reason: reason.into() }
    }
}

/// A snapshot of the environment. Tests build one from pairs instead of mutating the process.
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Env(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// The value, treating an empty string as unset (CloudFormation cannot omit a variable).
    pub fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    pub fn parsed_or<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError::invalid(name, e.to_string())),
        }
    }
}

/// Lifetime of presigned result links unless `RESULT_URL_TTL_SECONDS` is set. The worker's
/// `job_completed` and the HTTP API's result route sign alike, so the default lives here.
pub const DEFAULT_RESULT_URL_TTL: Duration = Duration::from_secs(900);

pub fn result_url_ttl(env: &Env) -> Result<Duration, ConfigError> {
    env.parsed_or("RESULT_URL_TTL_SECONDS", DEFAULT_RESULT_URL_TTL.as_secs()).map(Duration::from_secs)
}

/// The DynamoDB tables, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub jobs: String,
    pub chunks: String,
    pub connections: String,
    pub subscriptions: String,
    pub limits: String,
}

impl Tables {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Tables {
            jobs: env.required("JOBS_TABLE")?,
            chunks: env.required("CHUNKS_TABLE")?,
            connections: env.required("CONNECTIONS_TABLE")?,
            subscriptions: env.required("SUBSCRIPTIONS_TABLE")?,
            limits: env.required("LIMITS_TABLE")?,
        })
    }
}

/// How pushes reach clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}` on AWS; the emulator's URL
    /// locally. Always explicit: the event's `domainName` carries no port and no stage path.
    pub management_endpoint: String,
    /// How many `post_to_connection` calls run at once during a fan-out.
    pub concurrency: usize,
}

impl PushConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let management_endpoint = env.required("WS_MANAGEMENT_ENDPOINT")?;
        if !management_endpoint.starts_with("http://") && !management_endpoint.starts_with("https://") {
            return Err(ConfigError::invalid("WS_MANAGEMENT_ENDPOINT", "must be an http(s) URL"));
        }
        let concurrency = env.parsed_or("PUSH_CONCURRENCY", 16usize)?;
        if concurrency == 0 {
            return Err(ConfigError::invalid("PUSH_CONCURRENCY", "must be at least 1"));
        }
        Ok(PushConfig { management_endpoint, concurrency })
    }
}

/// The jobcast bucket (uploads, chunks, results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    pub bucket: String,
    /// Path-style addressing, for the local stack (set by the template's local condition).
    pub force_path_style: bool,
}

impl BucketConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(BucketConfig {
            bucket: env.required("BUCKET")?,
            force_path_style: env.parsed_or("S3_FORCE_PATH_STYLE", false)?,
        })
    }
}

impl crate::pdf::PdfLimits {
    /// `MAX_UPLOAD_BYTES`, `MAX_PAGES`, `MAX_DECOMPRESSED_BYTES`, `MAX_DOCUMENT_INFLATED_BYTES`,
    /// `MAX_OBJECTS`, `MAX_CHUNK_BYTES` and the text budgets (`MAX_PAGE_OPERATORS`,
    /// `MAX_CHUNK_OPERATORS`, `MAX_PAGE_CONTENT_BYTES`, `MAX_CHUNK_CONTENT_BYTES`,
    /// `MAX_PAGE_TEXT_BYTES`), each defaulting to [`PdfLimits::default`](crate::pdf::PdfLimits).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = crate::pdf::PdfLimits::default();
        let text = crate::pdf::TextBudget {
            page_operators: env.parsed_or("MAX_PAGE_OPERATORS", d.text.page_operators)?,
            chunk_operators: env.parsed_or("MAX_CHUNK_OPERATORS", d.text.chunk_operators)?,
            page_content_bytes: env.parsed_or("MAX_PAGE_CONTENT_BYTES", d.text.page_content_bytes)?,
            chunk_content_bytes: env.parsed_or("MAX_CHUNK_CONTENT_BYTES", d.text.chunk_content_bytes)?,
            page_text_bytes: env.parsed_or("MAX_PAGE_TEXT_BYTES", d.text.page_text_bytes)?,
            ..d.text
        };
        Ok(crate::pdf::PdfLimits {
            max_bytes: env.parsed_or("MAX_UPLOAD_BYTES", d.max_bytes)?,
            max_pages: env.parsed_or("MAX_PAGES", d.max_pages)?,
            max_decompressed_bytes: env.parsed_or("MAX_DECOMPRESSED_BYTES", d.max_decompressed_bytes)?,
            max_document_inflated_bytes: env.parsed_or("MAX_DOCUMENT_INFLATED_BYTES", d.max_document_inflated_bytes)?,
            max_objects: env.parsed_or("MAX_OBJECTS", d.max_objects)?,
            max_chunk_bytes: env.parsed_or("MAX_CHUNK_BYTES", d.max_chunk_bytes)?,
            text,
        })
    }
}

/// How long connection and subscription rows live if `$disconnect` never arrives.
/// API Gateway closes every connection after 2 h; the margin covers clock skew and retries.
pub const CONNECTION_TTL: Duration = Duration::from_secs(2 * 3600 + 15 * 60);

/// How long a job (and its result link) lives unless `JOB_RETENTION_DAYS` says otherwise:
/// the bucket's lifecycle deletes results after as many days (`ResultRetentionDays`).
pub const DEFAULT_JOB_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

pub fn job_retention(env: &Env) -> Result<Duration, ConfigError> {
    let days: u64 = env.parsed_or("JOB_RETENTION_DAYS", DEFAULT_JOB_RETENTION.as_secs() / 86_400)?;
    if days == 0 {
        return Err(ConfigError::invalid("JOB_RETENTION_DAYS", "must be at least 1"));
    }
    Ok(Duration::from_secs(days * 86_400))
}

/// How long a chunk's completion mark is kept for de-duplicating redeliveries.
pub const CHUNK_MARK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: [(&str, &str); 5] = [
        ("JOBS_TABLE", "jobs"),
        ("CHUNKS_TABLE", "chunks"),
        ("CONNECTIONS_TABLE", "connections"),
        ("SUBSCRIPTIONS_TABLE", "subscriptions"),
        ("LIMITS_TABLE", "limits"),
    ];

    #[test]
    fn every_table_is_named_by_its_variable() {
        let tables = Tables::from_env(&Env::from_pairs(REQUIRED)).expect("every table named");
        assert_eq!(
            [tables.jobs, tables.chunks, tables.connections, tables.subscriptions, tables.limits],
            ["jobs", "chunks", "connections", "subscriptions", "limits"]
        );
    }

    #[test]
    fn a_blank_or_missing_table_names_its_variable() {
        for (name, _) in REQUIRED {
            let blank = REQUIRED.map(|(n, v)| if n == name { (n, " ") } else { (n, v) });
            assert_eq!(Tables::from_env(&Env::from_pairs(blank)).expect_err(name), ConfigError::Missing(name));
            let missing = REQUIRED.into_iter().filter(|(n, _)| *n != name);
            assert_eq!(Tables::from_env(&Env::from_pairs(missing)).expect_err(name), ConfigError::Missing(name));
        }
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs([("A", ""), ("B", " x ")]);
        assert_eq!(env.optional("A"), None);
        assert_eq!(env.required("A"), Err(ConfigError::Missing("A")));
        assert_eq!(env.optional("B").as_deref(), Some(" x "));
    }

    #[test]
    fn push_config_requires_an_http_endpoint_and_positive_concurrency() {
        assert!(PushConfig::from_env(&Env::from_pairs([("WS_MANAGEMENT_ENDPOINT", "ws://x")])).is_err());
        let env = Env::from_pairs([("WS_MANAGEMENT_ENDPOINT", "http://127.0.0.1:4566/x"), ("PUSH_CONCURRENCY", "0")]);
        assert!(PushConfig::from_env(&env).is_err());
        let env = Env::from_pairs([("WS_MANAGEMENT_ENDPOINT", "https://a.example/prod")]);
        assert_eq!(PushConfig::from_env(&env).map(|c| c.concurrency), Ok(16));
    }

    #[test]
    fn unparsable_numbers_name_the_variable() {
        let env = Env::from_pairs([("N", "lots")]);
        let err = env.parsed_or("N", 1u32).expect_err("invalid");
        assert!(err.to_string().contains('N'));
    }
}
