//! Backstop 2 of 3: consumes the chunk queue's dead letters and ends their jobs.

use aws_lambda_events::sqs::SqsEvent;
use jobcast_shared::config::{Env, PushConfig, Tables};
use jobcast_shared::push::ManagementApiPusher;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let metrics = jobcast_shared::telemetry::init(&env, "chunk-dlq")?;
    let push = PushConfig::from_env(&env)?;
    let tables = Tables::from_env(&env)?;
    let sdk = jobcast_shared::aws::load_sdk_config().await;
    let deps = handler::Deps {
        store: jobcast_shared::dynamo::DynamoStore::new(jobcast_shared::aws::dynamodb(&sdk), tables),
        pusher: ManagementApiPusher::new(&sdk, &push.management_endpoint),
        unprocessable: jobcast_shared::sqs::SqsUnprocessable::new(&sdk, env.required("UNPROCESSABLE_QUEUE_URL")?),
        push_concurrency: push.concurrency,
    };
    run(service_fn(|event: LambdaEvent<SqsEvent>| metrics.around(handler::handle(&deps, event.payload)))).await
}
