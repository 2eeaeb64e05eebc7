use aws_lambda_events::sqs::SqsEvent;
use jobcast_shared::config::{BucketConfig, Env, PushConfig};
use jobcast_shared::push::ManagementApiPusher;
use jobcast_shared::s3::S3Store;
use jobcast_shared::sqs::SqsUnprocessable;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

use chunk_worker::handler;
use chunk_worker::settings::Settings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let metrics = jobcast_shared::telemetry::init(&env, "chunk-worker")?;
    let push = PushConfig::from_env(&env)?;
    let bucket = BucketConfig::from_env(&env)?;
    let settings = Settings::from_env(&env)?;
    let (sdk, store) = jobcast_shared::aws::dynamo_store_from_env(&env).await?;
    let deps = handler::Deps {
        store,
        objects: S3Store::new(&sdk, bucket.bucket, bucket.force_path_style),
        pusher: ManagementApiPusher::new(&sdk, &push.management_endpoint),
        unprocessable: SqsUnprocessable::new(&sdk, env.required("UNPROCESSABLE_QUEUE_URL")?),
        settings,
    };
    run(service_fn(|event: LambdaEvent<SqsEvent>| metrics.around(handler::handle(&deps, event.payload)))).await
}
