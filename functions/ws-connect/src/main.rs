use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use jobcast_shared::aws::{dynamodb, load_sdk_config};
use jobcast_shared::config::Env;
use jobcast_shared::dynamo::DynamoStore;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

mod config;
mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let metrics = jobcast_shared::telemetry::init(&env, "ws-connect")?;
    let config = config::Config::from_env(&env)?;
    let store = DynamoStore::new(dynamodb(&load_sdk_config().await), config.tables);
    run(service_fn(|event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
        metrics.around(handler::handle(&store, config.max_connections_per_user, event.payload))
    }))
    .await
}
