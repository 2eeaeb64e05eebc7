use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use jobcast_shared::config::Env;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let (_, store) = jobcast_shared::aws::dynamo_store_from_env(&Env::from_process()).await?;
    run(service_fn(|event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| handler::handle(&store, event.payload))).await
}
