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
pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

/// The SDK configuration and the DynamoDB store, as every function's `main` builds them.
pub async fn dynamo_store_from_env(
    env: &crate::config::Env,
) -> Result<(aws_config::SdkConfig, crate::dynamo::DynamoStore), crate::config::ConfigError> {
    let tables = crate::config::Tables::from_env(env)?;
    let sdk = load_sdk_config().await;
    let store = crate::dynamo::DynamoStore::new(dynamodb(&sdk), tables);
    Ok((sdk, store))
}
