//! What the authorizer reads from its environment, once per cold start.

use jobcast_shared::auth::JwtSettings;
use jobcast_shared::config::{ConfigError, Env};

/// Every variable the function reads. The `JWT_*` defaults live in `jobcast_shared`, so the
/// authorizer and the HTTP API accept exactly the same tokens.
#[derive(Debug, Clone)]
pub struct Config {
    pub jwt: JwtSettings,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config { jwt: JwtSettings::from_env(env)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: (&str, &str) = ("JWT_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:0:secret:jwt");

    #[test]
    fn unset_variables_take_their_defaults() {
        let config = Config::from_env(&Env::from_pairs([SECRET])).expect("only the secret set");
        assert_eq!(config.jwt.secret_arn.as_deref(), Some(SECRET.1));
        assert_eq!((config.jwt.issuer, config.jwt.audience, config.jwt.jwks), (None, None, None));
        assert_eq!(config.jwt.leeway_seconds, 30);
    }

    #[test]
    fn a_bad_or_missing_value_names_its_variable() {
        for (name, value) in [("JWT_LEEWAY_SECONDS", "lots"), ("JWT_SECRET", "plaintext-is-refused-plaintext!!")] {
            let err = Config::from_env(&Env::from_pairs([SECRET, (name, value)])).expect_err(name);
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
        let err =
            Config::from_env(&Env::from_pairs([("JWT_JWKS_URL", "https://idp.example/jwks")])).expect_err("no iss");
        assert!(err.to_string().contains("JWT_ISSUER"), "{err}");
    }
}
