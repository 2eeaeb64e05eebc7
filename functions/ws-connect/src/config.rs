//! What `ws-connect` reads from its environment, once per cold start.

use jobcast_shared::config::{ConfigError, Env, Tables};

/// Open connections a user may hold unless `MAX_CONNECTIONS_PER_USER` says otherwise: a few
/// tabs and devices. It also bounds every push's fan-out (only the owner may follow a job).
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: u32 = 10;

#[derive(Debug, Clone)]
pub struct Config {
    pub tables: Tables,
    pub max_connections_per_user: u32,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max_connections_per_user = env.parsed_or("MAX_CONNECTIONS_PER_USER", DEFAULT_MAX_CONNECTIONS_PER_USER)?;
        if max_connections_per_user == 0 {
            return Err(ConfigError::invalid("MAX_CONNECTIONS_PER_USER", "must be at least 1"));
        }
        Ok(Config { tables: Tables::from_env(env)?, max_connections_per_user })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES: [(&str, &str); 5] = [
        ("JOBS_TABLE", "jobs"),
        ("CHUNKS_TABLE", "chunks"),
        ("CONNECTIONS_TABLE", "connections"),
        ("SUBSCRIPTIONS_TABLE", "subscriptions"),
        ("LIMITS_TABLE", "limits"),
    ];

    #[test]
    fn the_connection_limit_has_a_default_and_must_be_a_positive_number() {
        let config = Config::from_env(&Env::from_pairs(TABLES)).expect("tables only");
        assert_eq!(config.max_connections_per_user, DEFAULT_MAX_CONNECTIONS_PER_USER);
        for bad in ["lots", "0"] {
            let env = Env::from_pairs(TABLES.into_iter().chain([("MAX_CONNECTIONS_PER_USER", bad)]));
            let err = Config::from_env(&env).expect_err(bad);
            assert!(err.to_string().contains("MAX_CONNECTIONS_PER_USER"), "{bad}: {err}");
        }
    }
}
