//! What the HTTP API reads from its environment, once per cold start.

use std::time::Duration;

use jobcast_shared::auth::JwtSettings;
use jobcast_shared::config::{BucketConfig, ConfigError, Env, PushConfig, Tables};
use jobcast_shared::pdf::PdfLimits;

/// Lifetime of a `POST /jobs` upload link unless `UPLOAD_URL_TTL_SECONDS` is set.
pub const DEFAULT_UPLOAD_URL_TTL: Duration = Duration::from_secs(900);

/// Every variable the function reads. The shared parts keep their defaults in `jobcast_shared`,
/// so this function and the others agree on them.
#[derive(Debug, Clone)]
pub struct Config {
    pub jwt: JwtSettings,
    pub push: PushConfig,
    pub bucket: BucketConfig,
    pub tables: Tables,
    pub settings: Settings,
}

/// What the routes need beyond their ports.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest upload `POST /jobs` will sign for.
    pub max_upload_bytes: u64,
    pub upload_url_ttl: Duration,
    pub result_url_ttl: Duration,
    pub push_concurrency: usize,
    /// How long a job (and its result link) lives.
    pub job_retention: Duration,
    /// Jobs a user may create per minute (`MAX_JOBS_PER_MINUTE`).
    pub max_jobs_per_minute: u32,
    /// Jobs a user may have open at once (`MAX_JOBS_IN_FLIGHT`).
    pub max_jobs_in_flight: u32,
}

/// Unless `MAX_JOBS_PER_MINUTE` says otherwise: a person uploading by hand never gets near it.
pub const DEFAULT_MAX_JOBS_PER_MINUTE: u32 = 30;
/// Unless `MAX_JOBS_IN_FLIGHT` says otherwise.
pub const DEFAULT_MAX_JOBS_IN_FLIGHT: u32 = 10;

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let jwt = JwtSettings::from_env(env)?;
        let push = PushConfig::from_env(env)?;
        let bucket = BucketConfig::from_env(env)?;
        let settings = Settings {
            // The planner refuses anything larger, so signing for more would only waste uploads.
            max_upload_bytes: PdfLimits::from_env(env)?.max_bytes as u64,
            upload_url_ttl: seconds_or(env, "UPLOAD_URL_TTL_SECONDS", DEFAULT_UPLOAD_URL_TTL)?,
            result_url_ttl: jobcast_shared::config::result_url_ttl(env)?,
            push_concurrency: push.concurrency,
            job_retention: jobcast_shared::config::job_retention(env)?,
            max_jobs_per_minute: env.parsed_or("MAX_JOBS_PER_MINUTE", DEFAULT_MAX_JOBS_PER_MINUTE)?,
            max_jobs_in_flight: env.parsed_or("MAX_JOBS_IN_FLIGHT", DEFAULT_MAX_JOBS_IN_FLIGHT)?,
        };
        let tables = Tables::from_env(env)?;
        Ok(Config { jwt, push, bucket, tables, settings })
    }
}

fn seconds_or(env: &Env, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    env.parsed_or(name, default.as_secs()).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables without a default.
    const REQUIRED: [(&str, &str); 8] = [
        ("JOBS_TABLE", "jobs"),
        ("CHUNKS_TABLE", "chunks"),
        ("CONNECTIONS_TABLE", "connections"),
        ("SUBSCRIPTIONS_TABLE", "subscriptions"),
        ("LIMITS_TABLE", "limits"),
        ("BUCKET", "jobcast"),
        ("WS_MANAGEMENT_ENDPOINT", "https://ws.example/dev"),
        ("JWT_SECRET_ARN", "jwt-secret"),
    ];

    fn env_with(extra: &[(&'static str, &'static str)]) -> Env {
        Env::from_pairs(REQUIRED.iter().chain(extra).copied())
    }

    #[test]
    fn unset_variables_take_their_defaults() {
        let config = Config::from_env(&env_with(&[])).expect("only required variables set");
        let settings = &config.settings;
        assert_eq!(settings.upload_url_ttl, DEFAULT_UPLOAD_URL_TTL);
        assert_eq!(settings.result_url_ttl, jobcast_shared::config::DEFAULT_RESULT_URL_TTL);
        assert_eq!(settings.max_upload_bytes, PdfLimits::default().max_bytes as u64);
        assert_eq!(settings.push_concurrency, config.push.concurrency);
        assert_eq!(settings.job_retention, jobcast_shared::config::DEFAULT_JOB_RETENTION);
        assert_eq!(
            (settings.max_jobs_per_minute, settings.max_jobs_in_flight),
            (DEFAULT_MAX_JOBS_PER_MINUTE, DEFAULT_MAX_JOBS_IN_FLIGHT)
        );
        assert!(!config.bucket.force_path_style);
        assert_eq!((config.tables.jobs.as_str(), config.bucket.bucket.as_str()), ("jobs", "jobcast"));
    }

    #[test]
    fn set_variables_replace_the_defaults() {
        let env = env_with(&[
            ("UPLOAD_URL_TTL_SECONDS", "60"),
            ("RESULT_URL_TTL_SECONDS", "120"),
            ("MAX_UPLOAD_BYTES", "1000"),
            ("PUSH_CONCURRENCY", "3"),
            ("JOB_RETENTION_DAYS", "2"),
            ("MAX_JOBS_PER_MINUTE", "5"),
            ("MAX_JOBS_IN_FLIGHT", "1"),
        ]);
        let settings = Config::from_env(&env).expect("valid").settings;
        assert_eq!(settings.job_retention, Duration::from_secs(2 * 86_400));
        assert_eq!((settings.max_jobs_per_minute, settings.max_jobs_in_flight), (5, 1));
        assert_eq!(settings.upload_url_ttl, Duration::from_secs(60));
        assert_eq!(settings.result_url_ttl, Duration::from_secs(120));
        assert_eq!((settings.max_upload_bytes, settings.push_concurrency), (1000, 3));
    }

    #[test]
    fn a_bad_or_missing_value_names_its_variable() {
        for (name, value) in [
            ("UPLOAD_URL_TTL_SECONDS", "soon"),
            ("RESULT_URL_TTL_SECONDS", "-1"),
            ("MAX_UPLOAD_BYTES", "50MB"),
            ("PUSH_CONCURRENCY", "0"),
            ("JWT_LEEWAY_SECONDS", "lots"),
            ("JOB_RETENTION_DAYS", "0"),
            ("MAX_JOBS_IN_FLIGHT", "many"),
        ] {
            let err = Config::from_env(&env_with(&[(name, value)])).expect_err(name);
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
        let without_bucket = REQUIRED.iter().copied().filter(|(name, _)| *name != "BUCKET");
        let err = Config::from_env(&Env::from_pairs(without_bucket)).expect_err("no bucket");
        assert_eq!(err, ConfigError::Missing("BUCKET"));
    }
}
