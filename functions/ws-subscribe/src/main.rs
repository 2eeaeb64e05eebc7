// The subscribe handler's future, wrapped by the metrics flush, nests deeper than rustc's default
// layout query depth.
#![recursion_limit = "256"]

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use jobcast_shared::aws::{dynamodb, load_sdk_config};
use jobcast_shared::config::Env;
use jobcast_shared::dynamo::DynamoStore;
use jobcast_shared::push::ManagementApiPusher;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

mod config;
mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let metrics = jobcast_shared::telemetry::init(&env, "ws-subscribe")?;
    let config = config::Config::from_env(&env)?;
    let sdk = load_sdk_config().await;
    let deps = handler::Deps {
        store: DynamoStore::new(dynamodb(&sdk), config.tables),
        pusher: ManagementApiPusher::new(&sdk, &config.push.management_endpoint),
        max_subscriptions_per_connection: config.max_subscriptions_per_connection,
    };
    run(service_fn(|event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
        metrics.around(handler::handle(&deps, event.payload))
    }))
    .await
}
