//! SDK configuration shared by every function: loaded once per cold start.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;

/// Loads the SDK configuration from the environment, with explicit timeouts: a Lambda that
/// waits on a hung connection burns its whole timeout, and an SQS batch with it.
/// `AWS_ENDPOINT_URL` (set by the local stack for every function) is honoured by the SDK itself.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(15))
                .build(),
        )
        .load()
        .await
}

/// A DynamoDB client from the shared configuration.
#[cfg(feature = "aws")]
pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

/// The SDK configuration and the DynamoDB store, as every function's `main` builds them.
#[cfg(feature = "aws")]
pub async fn dynamo_store_from_env(
    env: &crate::config::Env,
) -> Result<(aws_config::SdkConfig, crate::dynamo::DynamoStore), crate::config::ConfigError> {
    let tables = crate::config::Tables::from_env(env)?;
    let sdk = load_sdk_config().await;
    let store = crate::dynamo::DynamoStore::new(dynamodb(&sdk), tables);
    Ok((sdk, store))
}

/// A Secrets Manager secret's `SecretString`, read once per cold start: a secret resolved
/// into an environment variable would be readable by anyone allowed
/// `lambda:GetFunctionConfiguration`.
#[cfg(feature = "tokens")]
pub async fn read_secret(sdk: &aws_config::SdkConfig, id: &str) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .with_context(|| format!("reading the secret {id}"))?;
    let value = out.secret_string().with_context(|| format!("the secret {id} has no string value"))?;
    // Byte for byte: whoever mints tokens with it signs with exactly these bytes.
    Ok(value.as_bytes().to_vec())
}

/// The token verifier the settings describe: the HS256 secret read from Secrets Manager, the
/// identity provider's keys fetched over HTTPS on first use.
#[cfg(feature = "tokens")]
pub async fn token_verifier(
    sdk: &aws_config::SdkConfig,
    settings: &crate::auth::JwtSettings,
) -> anyhow::Result<crate::auth::TokenVerifier> {
    let secret = match &settings.secret_arn {
        Some(id) => Some(read_secret(sdk, id).await?),
        None => None,
    };
    let fetch = match &settings.jwks {
        Some(jwks) => Some(crate::auth::jwks::http_fetcher(jwks.location.clone(), JWKS_FETCH_TIMEOUT)?),
        None => None,
    };
    Ok(crate::auth::TokenVerifier::new(settings, secret.as_deref(), fetch)?)
}

/// A JWKS fetch's time limit: well inside the authorizer's 10 s, so a hung identity provider
/// denies a connection instead of timing the function out.
#[cfg(feature = "tokens")]
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(3);
