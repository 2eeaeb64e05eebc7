//! What `ws-subscribe` reads from its environment, once per cold start.

use jobcast_shared::config::{ConfigError, Env, PushConfig, Tables};

/// Jobs one connection may follow at once unless `MAX_SUBSCRIPTIONS_PER_CONNECTION` says
/// otherwise: a dashboard's worth. It bounds the connection row (it holds the set).
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 50;

/// Every variable the function reads. `PUSH_CONCURRENCY` keeps its default in `jobcast_shared`
/// and is checked here like everywhere else, though a reply goes to one connection only.
#[derive(Debug, Clone)]
pub struct Config {
    pub push: PushConfig,
    pub tables: Tables,
    pub max_subscriptions_per_connection: u32,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let push = PushConfig::from_env(env)?;
        let tables = Tables::from_env(env)?;
        let max_subscriptions_per_connection =
            env.parsed_or("MAX_SUBSCRIPTIONS_PER_CONNECTION", DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION)?;
        if max_subscriptions_per_connection == 0 {
            return Err(ConfigError::invalid("MAX_SUBSCRIPTIONS_PER_CONNECTION", "must be at least 1"));
        }
        Ok(Config { push, tables, max_subscriptions_per_connection })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables without a default.
    const REQUIRED: [(&str, &str); 6] = [
        ("JOBS_TABLE", "jobs"),
        ("CHUNKS_TABLE", "chunks"),
        ("CONNECTIONS_TABLE", "connections"),
        ("SUBSCRIPTIONS_TABLE", "subscriptions"),
        ("LIMITS_TABLE", "limits"),
        ("WS_MANAGEMENT_ENDPOINT", "https://ws.example/dev"),
    ];

    fn env_with(extra: &[(&'static str, &'static str)]) -> Env {
        Env::from_pairs(REQUIRED.iter().chain(extra).copied())
    }

    #[test]
    fn unset_variables_take_their_defaults() {
        let config = Config::from_env(&env_with(&[])).expect("only required variables set");
        let defaults = PushConfig::from_env(&Env::from_pairs([("WS_MANAGEMENT_ENDPOINT", "https://ws.example/dev")]))
            .expect("valid");
        assert_eq!(config.push, defaults);
        assert_eq!(config.tables.subscriptions, "subscriptions");
        assert_eq!(config.max_subscriptions_per_connection, DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION);
    }

    #[test]
    fn a_bad_or_missing_value_names_its_variable() {
        for (name, value) in [
            ("WS_MANAGEMENT_ENDPOINT", "wss://ws.example/dev"),
            ("PUSH_CONCURRENCY", "many"),
            ("MAX_SUBSCRIPTIONS_PER_CONNECTION", "-1"),
            ("MAX_SUBSCRIPTIONS_PER_CONNECTION", "0"),
        ] {
            let err = Config::from_env(&env_with(&[(name, value)])).expect_err(name);
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
        let without_table = REQUIRED.into_iter().filter(|(name, _)| *name != "SUBSCRIPTIONS_TABLE");
        let err = Config::from_env(&Env::from_pairs(without_table)).expect_err("no table");
        assert_eq!(err, ConfigError::Missing("SUBSCRIPTIONS_TABLE"));
    }
}
