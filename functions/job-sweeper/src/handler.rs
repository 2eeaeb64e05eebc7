//! Every job ends: the sweeper fails jobs that sat in a stage past its deadline with no change
//! (an upload that never arrived, a planner killed mid-run, chunks or a merge that stopped
//! without reaching the DLQ). Jobs are found through the sparse `byOpenStage` index, one query
//! per stage, never a scan; each failure is a conditional move that loses to any change made
//! meanwhile, so the sweeper races the normal path and the other backstops safely.

use std::time::Duration;

use jobcast_shared::BoxError;
use jobcast_shared::clock;
use jobcast_shared::config::{ConfigError, Env};
use jobcast_shared::job::Stage;
use jobcast_shared::ports::{ConnectionStore, JobStages, Pusher, StageChange, StuckJobs, SubscriptionStore, UserRoom};
use jobcast_shared::push::Notifier;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How long a job may sit in each open stage without any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Queued, waiting for the upload: the presigned URL's life plus a margin.
    pub upload_deadline: Duration,
    /// Analyzing or chunked: several planner timeouts.
    pub planning_deadline: Duration,
    /// Processing or merging: longer than every delivery of a chunk before the DLQ
    /// (`maxReceiveCount` × visibility timeout), so the DLQ consumer gets the first chance.
    pub processing_deadline: Duration,
    /// Jobs failed per stage per run: a backlog is worked off over several runs.
    pub batch: u32,
}

impl Settings {
    pub const DEFAULT_UPLOAD_DEADLINE: Duration = Duration::from_secs(45 * 60);
    pub const DEFAULT_PLANNING_DEADLINE: Duration = Duration::from_secs(10 * 60);
    pub const DEFAULT_PROCESSING_DEADLINE: Duration = Duration::from_secs(30 * 60);
    pub const DEFAULT_BATCH: u32 = 200;

    /// `STUCK_UPLOAD_SECONDS`, `STUCK_PLANNING_SECONDS`, `STUCK_PROCESSING_SECONDS`, `SWEEP_BATCH`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let seconds = |name, default: Duration| env.parsed_or(name, default.as_secs()).map(Duration::from_secs);
        Ok(Settings {
            upload_deadline: seconds("STUCK_UPLOAD_SECONDS", Self::DEFAULT_UPLOAD_DEADLINE)?,
            planning_deadline: seconds("STUCK_PLANNING_SECONDS", Self::DEFAULT_PLANNING_DEADLINE)?,
            processing_deadline: seconds("STUCK_PROCESSING_SECONDS", Self::DEFAULT_PROCESSING_DEADLINE)?,
            batch: env.parsed_or("SWEEP_BATCH", Self::DEFAULT_BATCH)?,
        })
    }

    fn deadline(&self, stage: Stage) -> Option<(Duration, &'static str)> {
        match stage {
            Stage::Queued => Some((self.upload_deadline, "the upload never arrived; please create the job again")),
            Stage::Analyzing | Stage::Chunked => {
                Some((self.planning_deadline, "analyzing the PDF stopped; please upload again"))
            }
            Stage::Processing => Some((self.processing_deadline, "processing stopped; please upload again")),
            Stage::Merging => Some((self.processing_deadline, "merging the results stopped; please upload again")),
            Stage::Completed | Stage::Failed => None,
        }
    }
}

#[derive(Debug)]
pub struct Deps<S, P> {
    pub store: S,
    pub pusher: P,
    pub push_concurrency: usize,
    pub settings: Settings,
}

/// Everything the sweeper needs of the tables.
pub trait SweeperStore: StuckJobs + JobStages + SubscriptionStore + UserRoom + ConnectionStore {}
impl<T> SweeperStore for T where T: StuckJobs + JobStages + SubscriptionStore + UserRoom + ConnectionStore {}

/// The time the schedule fired (the event's `time`), or the clock when invoked by hand.
fn now_millis(event: &serde_json::Value) -> i64 {
    event
        .get("time")
        .and_then(|t| t.as_str())
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .map_or_else(clock::epoch_millis, |t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

/// One sweep; answers `{"failed": n}`.
pub async fn handle<S: SweeperStore, P: Pusher>(
    deps: &Deps<S, P>,
    event: serde_json::Value,
) -> Result<serde_json::Value, BoxError> {
    let now = now_millis(&event);
    let notifier = Notifier { store: &deps.store, pusher: &deps.pusher, concurrency: deps.push_concurrency };
    let mut failed = 0;
    for stage in Stage::ALL {
        let Some((deadline, reason)) = deps.settings.deadline(stage) else { continue };
        let cutoff = now - i64::try_from(deadline.as_millis()).unwrap_or(i64::MAX);
        for id in deps.store.entered_stage_before(stage, cutoff, deps.settings.batch).await? {
            // A job still making progress (chunks count without a stage move) is left alone.
            if let Some(job) = deps.store.advance(&id, &StageChange::fail_stuck(stage, cutoff, reason)).await? {
                jobcast_shared::telemetry::job_failed(&job, "backstop_sweeper");
                tracing::warn!(job_id = %job.id, %stage, "stuck job failed by the sweeper");
                notifier.stored_change(&job, None).await;
                failed += 1;
            }
        }
    }
    tracing::info!(failed, "sweep done");
    Ok(serde_json::json!({ "failed": failed }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcast_shared::fakes::{InMemoryStore, RecordingPusher};
    use jobcast_shared::ids::{JobId, UserId};
    use jobcast_shared::job::Job;

    fn job(name: &str, stage: Stage, updated_at: i64) -> Job {
        Job {
            id: JobId::parse(name).expect("id"),
            owner: UserId::parse("alice").expect("id"),
            stage,
            chunks_done: 0,
            chunks_total: 2,
            seq: 1,
            file_name: None,
            error: None,
            created_at: 0,
            updated_at,
        }
    }

    fn settings() -> Settings {
        Settings::from_env(&Env::default()).expect("defaults")
    }

    fn at(millis: i64) -> serde_json::Value {
        let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).expect("time");
        serde_json::json!({"detail-type": "Scheduled Event", "time": time.format(&Rfc3339).expect("format")})
    }

    #[tokio::test]
    async fn jobs_idle_past_their_stage_deadline_fail_with_the_stage_in_their_reason() {
        let hour = 3_600_000;
        let store = InMemoryStore::default();
        for (name, stage) in
            [("q", Stage::Queued), ("a", Stage::Analyzing), ("p", Stage::Processing), ("m", Stage::Merging)]
        {
            store.insert_job(job(name, stage, 0));
        }
        store.insert_job(job("fresh", Stage::Processing, 10 * hour - 60_000));
        store.insert_job(job("done", Stage::Completed, 0));
        let deps = Deps { store, pusher: RecordingPusher::default(), push_concurrency: 2, settings: settings() };

        let summary = handle(&deps, at(10 * hour)).await.expect("sweep");
        assert_eq!(summary, serde_json::json!({"failed": 4}));
        let reason = |name: &str| deps.store.job(&JobId::parse(name).expect("id")).and_then(|j| j.error);
        assert_eq!(reason("q").as_deref(), Some("the upload never arrived; please create the job again"));
        assert_eq!(reason("a").as_deref(), Some("analyzing the PDF stopped; please upload again"));
        assert_eq!(reason("p").as_deref(), Some("processing stopped; please upload again"));
        assert_eq!(reason("m").as_deref(), Some("merging the results stopped; please upload again"));
        let stage = |name: &str| deps.store.job(&JobId::parse(name).expect("id")).map(|j| j.stage);
        assert_eq!((stage("fresh"), stage("done")), (Some(Stage::Processing), Some(Stage::Completed)));

        let again = handle(&deps, at(10 * hour)).await.expect("sweep");
        assert_eq!(again, serde_json::json!({"failed": 0}), "a second sweep changes nothing");
    }

    #[test]
    fn deadlines_have_defaults_and_a_bad_value_names_its_variable() {
        assert_eq!(settings().upload_deadline, Settings::DEFAULT_UPLOAD_DEADLINE);
        let err = Settings::from_env(&Env::from_pairs([("STUCK_PLANNING_SECONDS", "soon")])).expect_err("bad");
        assert!(err.to_string().contains("STUCK_PLANNING_SECONDS"));
        assert!(now_millis(&serde_json::json!({})) > 0, "invoked by hand: the clock");
    }
}
