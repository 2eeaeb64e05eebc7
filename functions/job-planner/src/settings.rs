//! What the planner reads from its environment, once per cold start. Every default is written
//! here once.

use jobcast_shared::config::{ConfigError, Env, PushConfig};
use jobcast_shared::pdf::PdfLimits;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Pages per chunk.
    pub chunk_pages: u32,
    pub limits: PdfLimits,
    pub push_concurrency: usize,
}

impl Settings {
    /// The template's `ChunkPages` default.
    pub const DEFAULT_CHUNK_PAGES: u32 = 10;

    /// `CHUNK_PAGES`, the PDF limits and the push settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let chunk_pages = env.parsed_or("CHUNK_PAGES", Self::DEFAULT_CHUNK_PAGES)?;
        if chunk_pages == 0 {
            return Err(ConfigError::invalid("CHUNK_PAGES", "must be at least 1"));
        }
        Ok(Settings {
            chunk_pages,
            limits: PdfLimits::from_env(env)?,
            push_concurrency: PushConfig::from_env(env)?.concurrency,
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
        assert_eq!(settings.chunk_pages, Settings::DEFAULT_CHUNK_PAGES);
        assert_eq!(settings.limits, PdfLimits::default());
    }

    #[test]
    fn chunk_pages_must_be_a_positive_number() {
        for bad in ["0", "ten", "-1"] {
            let env = Env::from_pairs(REQUIRED.into_iter().chain([("CHUNK_PAGES", bad)]));
            assert!(matches!(Settings::from_env(&env), Err(ConfigError::Invalid { name: "CHUNK_PAGES", .. })), "{bad}");
        }
        let env = Env::from_pairs(REQUIRED.into_iter().chain([("CHUNK_PAGES", "2")]));
        assert_eq!(Settings::from_env(&env).map(|s| s.chunk_pages), Ok(2));
    }
}
