//! What the function reads from its environment, once per cold start.

use jobcast_shared::config::{ConfigError, Env, Tables};

/// Every variable the function reads. None has a default: a table name cannot be guessed.
#[derive(Debug, Clone)]
pub struct Config {
    pub tables: Tables,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config { tables: Tables::from_env(env)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: [(&str, &str); 4] = [
        ("JOBS_TABLE", "jobs"),
        ("CHUNKS_TABLE", "chunks"),
        ("CONNECTIONS_TABLE", "connections"),
        ("SUBSCRIPTIONS_TABLE", "subscriptions"),
    ];

    #[test]
    fn the_table_names_are_all_it_needs() {
        let tables = Config::from_env(&Env::from_pairs(REQUIRED)).expect("every table named").tables;
        assert_eq!(
            [tables.jobs, tables.chunks, tables.connections, tables.subscriptions],
            ["jobs", "chunks", "connections", "subscriptions"]
        );
    }

    #[test]
    fn a_blank_or_missing_table_names_its_variable() {
        for (name, _) in REQUIRED {
            let blank = REQUIRED.map(|(n, v)| if n == name { (n, " ") } else { (n, v) });
            assert_eq!(Config::from_env(&Env::from_pairs(blank)).expect_err(name), ConfigError::Missing(name));
            let missing = REQUIRED.into_iter().filter(|(n, _)| *n != name);
            assert_eq!(Config::from_env(&Env::from_pairs(missing)).expect_err(name), ConfigError::Missing(name));
        }
    }
}
