use aws_lambda_events::s3::S3Event;
use jobcast_shared::config::{BucketConfig, Env, PushConfig};
use jobcast_shared::push::ManagementApiPusher;
use jobcast_shared::s3::S3Store;
use jobcast_shared::sqs::SqsChunkQueue;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

mod handler;
mod settings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let metrics = jobcast_shared::telemetry::init(&env, "job-planner")?;
    let push = PushConfig::from_env(&env)?;
    let bucket = BucketConfig::from_env(&env)?;
    let settings = settings::Settings::from_env(&env)?;
    let (sdk, store) = jobcast_shared::aws::dynamo_store_from_env(&env).await?;
    let deps = handler::Deps {
        store,
        objects: S3Store::new(&sdk, bucket.bucket, bucket.force_path_style),
        queue: SqsChunkQueue::new(&sdk, env.required("CHUNK_QUEUE_URL")?),
        pusher: ManagementApiPusher::new(&sdk, &push.management_endpoint),
        settings,
    };
    run(service_fn(|event: LambdaEvent<S3Event>| metrics.around(handler::handle(&deps, event.payload)))).await
}
