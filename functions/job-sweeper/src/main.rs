//! Backstop 3 of 3: a schedule that fails jobs left idle past their stage's deadline.

use jobcast_shared::config::{Env, PushConfig, Tables};
use jobcast_shared::push::ManagementApiPusher;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let metrics = jobcast_shared::telemetry::init(&env, "job-sweeper")?;
    let push = PushConfig::from_env(&env)?;
    let tables = Tables::from_env(&env)?;
    let settings = handler::Settings::from_env(&env)?;
    let sdk = jobcast_shared::aws::load_sdk_config().await;
    let deps = handler::Deps {
        store: jobcast_shared::dynamo::DynamoStore::new(jobcast_shared::aws::dynamodb(&sdk), tables),
        pusher: ManagementApiPusher::new(&sdk, &push.management_endpoint),
        push_concurrency: push.concurrency,
        settings,
    };
    run(service_fn(|event: LambdaEvent<serde_json::Value>| metrics.around(handler::handle(&deps, event.payload)))).await
}
