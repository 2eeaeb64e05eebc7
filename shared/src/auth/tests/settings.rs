use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::config::Env;

#[test]
fn settings_come_from_the_environment_and_refuse_a_plaintext_secret() {
    let env = Env::from_pairs([("JWT_SECRET", "0123456789abcdef0123456789abcdef")]);
    let err = JwtSettings::from_env(&env).expect_err("plaintext secret");
    assert!(err.to_string().contains("JWT_SECRET_ARN"), "{err}");

    let env = Env::from_pairs([("JWT_SECRET_ARN", "jwt-secret")]);
    let hs = JwtSettings::from_env(&env).expect("secret only");
    assert_eq!((hs.secret_arn.as_deref(), hs.leeway_seconds, hs.jwks), (Some("jwt-secret"), 30, None));

    let env = Env::from_pairs([
        ("JWT_JWKS_URL", "https://idp.example/jwks.json"),
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_JWKS_CACHE_SECONDS", "5"),
    ]);
    let jwks = JwtSettings::from_env(&env).expect("jwks").jwks.expect("jwks set");
    assert_eq!(jwks.location, JwksLocation::Url("https://idp.example/jwks.json".into()));
    assert_eq!((jwks.cache_for, jwks.min_refresh), (Duration::from_secs(5), Duration::from_secs(60)));

    let env = Env::from_pairs([("JWT_DISCOVERY", "true"), ("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE)]);
    let discovered = JwtSettings::from_env(&env).expect("discovery").jwks.expect("jwks set");
    assert_eq!(discovered.location, JwksLocation::Discovery { issuer: ISSUER.into() });

    for (pairs, names) in [
        (vec![("JWT_JWKS_URL", "https://idp.example/jwks.json")], "JWT_ISSUER"),
        (vec![("JWT_JWKS_URL", "ftp://x"), ("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE)], "JWT_JWKS_URL"),
        (
            vec![("JWT_JWKS_URL", "http://idp.example/jwks"), ("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE)],
            "JWT_JWKS_URL",
        ),
        (
            vec![("JWT_DISCOVERY", "true"), ("JWT_ISSUER", "http://idp.example"), ("JWT_AUDIENCE", AUDIENCE)],
            "JWT_ISSUER",
        ),
        (vec![("JWT_PUBLIC_KEY", RSA_PUBLIC), ("JWT_ISSUER", ISSUER)], "JWT_AUDIENCE"),
        (vec![("JWT_PUBLIC_KEY", RSA_PUBLIC), ("JWT_PUBLIC_KEY_ALGORITHM", "HS256")], "JWT_PUBLIC_KEY_ALGORITHM"),
        (vec![("JWT_DISCOVERY", "true")], "JWT_ISSUER"),
        (vec![], "JWT_SECRET_ARN"),
    ] {
        let err = JwtSettings::from_env(&Env::from_pairs(pairs)).expect_err(names);
        assert!(err.to_string().contains(names), "{names}: {err}");
    }
}

#[test]
fn the_token_expiry_is_read_from_the_context_as_a_number_or_a_string() {
    let fields = |value: serde_json::Value| HashMap::from([(CONTEXT_TOKEN_EXPIRES_AT.to_owned(), value)]);
    assert_eq!(token_expiry_from_authorizer_context(&fields(json!(1_800_000_000u64))), Some(1_800_000_000));
    assert_eq!(token_expiry_from_authorizer_context(&fields(json!("1800000000"))), Some(1_800_000_000));
    assert_eq!(token_expiry_from_authorizer_context(&fields(json!("soon"))), None);
    assert_eq!(token_expiry_from_authorizer_context(&HashMap::new()), None);
}

#[test]
fn keys_come_over_https_or_from_loopback_only() {
    for url in ["https://idp.example/jwks", "http://127.0.0.1:4677/jwks.json", "http://localhost/x", "http://[::1]:80/"]
    {
        assert!(is_trusted_url(url), "{url}");
    }
    for url in
        ["http://idp.example/jwks", "http://127.0.0.1.evil.example/", "http://evil@127.0.0.1/", "ftp://127.0.0.1/", ""]
    {
        assert!(!is_trusted_url(url), "{url}");
    }
}
