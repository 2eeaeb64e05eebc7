//! What the worker reads from its environment, once per cold start. Every default is written
//! here once.

use std::time::Duration;

use jobcast_shared::config::{ConfigError, Env, PushConfig};
use jobcast_shared::objects::MIN_PART_BYTES;
use jobcast_shared::pdf::PdfLimits;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub push_concurrency: usize,
    pub limits: PdfLimits,
    /// The queue's `maxReceiveCount`: the delivery that reaches it is the last before the DLQ.
    pub max_receive_count: u32,
    pub result_url_ttl: Duration,
    /// Part size of the streamed `result.json` / `result.txt` (at least 5 MiB on S3).
    pub merge_part_bytes: usize,
}

impl Settings {
    /// The queue's default `maxReceiveCount` in the template.
    pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 3;
    pub const DEFAULT_MERGE_PART_BYTES: usize = 8 << 20;

    /// `MAX_RECEIVE_COUNT`, `RESULT_URL_TTL_SECONDS`, `MERGE_PART_BYTES` (raised to S3's 5 MiB
    /// minimum), the PDF limits and the push settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Settings {
            push_concurrency: PushConfig::from_env(env)?.concurrency,
            limits: PdfLimits::from_env(env)?,
            max_receive_count: env.parsed_or("MAX_RECEIVE_COUNT", Self::DEFAULT_MAX_RECEIVE_COUNT)?,
            result_url_ttl: jobcast_shared::config::result_url_ttl(env)?,
            merge_part_bytes: env.parsed_or("MERGE_PART_BYTES", Self::DEFAULT_MERGE_PART_BYTES)?.max(MIN_PART_BYTES),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: [(&str, &str); 1] = [("WS_MANAGEMENT_ENDPOINT", "http://127.0.0.1:4566/_aws/execute-api/abc/ws")];

    #[test]
    fn defaults_apply_when_only_the_required_variables_are_set() {
        let settings = Settings::from_env(&Env::from_pairs(REQUIRED)).expect("settings");
        assert_eq!(settings.max_receive_count, Settings::DEFAULT_MAX_RECEIVE_COUNT);
        assert_eq!(settings.merge_part_bytes, Settings::DEFAULT_MERGE_PART_BYTES);
        assert_eq!(settings.result_url_ttl, jobcast_shared::config::DEFAULT_RESULT_URL_TTL);
        assert_eq!(settings.limits, PdfLimits::default());
    }

    #[test]
    fn a_merge_part_below_the_s3_minimum_is_raised_and_bad_numbers_are_refused() {
        let env =
            Env::from_pairs(REQUIRED.into_iter().chain([("MERGE_PART_BYTES", "1024"), ("MAX_RECEIVE_COUNT", "5")]));
        let settings = Settings::from_env(&env).expect("settings");
        assert_eq!((settings.merge_part_bytes, settings.max_receive_count), (MIN_PART_BYTES, 5));
        let bad = Env::from_pairs(REQUIRED.into_iter().chain([("MAX_RECEIVE_COUNT", "three")]));
        assert!(matches!(Settings::from_env(&bad), Err(ConfigError::Invalid { name: "MAX_RECEIVE_COUNT", .. })));
    }
}
