use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use jobcast_shared::config::{Env, PushConfig};
use jobcast_shared::push::ManagementApiPusher;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let push = PushConfig::from_env(&env)?;
    let (sdk, store) = jobcast_shared::aws::dynamo_store_from_env(&env).await?;
    let deps = handler::Deps { store, pusher: ManagementApiPusher::new(&sdk, &push.management_endpoint) };
    run(service_fn(|event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| handler::handle(&deps, event.payload))).await
}
