//! The merge: chunk results streamed into `result.json` and `result.txt`, one chunk in memory
//! at a time, whatever the page count; then the job completes.

use jobcast_shared::ids::ChunkIndex;
use jobcast_shared::job::{Job, Stage};
use jobcast_shared::keys;
use jobcast_shared::objects::StreamingObject;
use jobcast_shared::ports::{ObjectParts, ObjectStore, Pusher, StageChange, StoreError, Unprocessable, UrlSigner};
use jobcast_shared::result::{ChunkResult, Manifest, ResultMerger};
use jobcast_shared::telemetry;

use crate::handler::{ChunkError, Deps, WorkerStore};

impl<S, O, P, U> Deps<S, O, P, U>
where
    S: WorkerStore,
    O: ObjectParts + UrlSigner,
    P: Pusher,
    U: Unprocessable,
{
    /// Moves a job whose chunks are all counted to merging (one caller wins), then merges.
    pub(crate) async fn start_merge(&self, job: &Job) -> Result<(), ChunkError> {
        let Some(merging) = self.store.begin_merge(&job.id).await? else {
            return Ok(());
        };
        self.notifier().stored_change(&merging, None).await;
        self.finish_merge(&merging).await
    }

    /// Writes the results and completes the job. Safe to repeat: the files are rewritten
    /// identically and only one caller completes the job.
    pub(crate) async fn finish_merge(&self, job: &Job) -> Result<(), ChunkError> {
        let manifest: Manifest = read_json(&self.objects, keys::manifest(&job.id), MANIFEST_MAX_BYTES).await?;
        let (mut merger, head) = ResultMerger::begin(&job.id, job.file_name.as_deref(), &manifest);
        let part = self.settings.merge_part_bytes;
        let mut json = StreamingObject::new(&self.objects, keys::result_json(&job.id), "application/json", part);
        let mut text =
            StreamingObject::new(&self.objects, keys::result_text(&job.id), "text/plain; charset=utf-8", part);
        let written = async {
            json.write(&head).await?;
            for plan in &manifest.chunks {
                let index = ChunkIndex::parse(u64::from(plan.index)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // Each page's text is bounded, so a chunk result is too; JSON escaping can grow
                // text up to six times (\uXXXX).
                let pages = (plan.last_page - plan.first_page + 1) as u64;
                let max = pages * (self.settings.limits.text.page_text_bytes as u64 * 6 + 4096);
                let chunk: ChunkResult = read_json(&self.objects, keys::chunk_result(&job.id, index), max).await?;
                for page in &chunk.pages {
                    let (page_json, page_text) = merger.page(page)?;
                    json.write(&page_json).await?;
                    text.write(&page_text).await?;
                }
            }
            let tail = merger.end()?;
            json.write(&tail).await?;
            Ok::<_, ChunkError>(())
        }
        .await;
        if let Err(err) = written {
            json.abort().await;
            text.abort().await;
            return Err(err);
        }
        let bytes = json.written;
        if let Err(err) = text.finish().await {
            json.abort().await;
            return Err(err.into());
        }
        json.finish().await?;

        let done = self.store.advance(&job.id, &StageChange::to(&[Stage::Merging], Stage::Completed)).await?;
        if let Some(done) = done {
            let url = self.objects.presign_get(&keys::result_json(&job.id), self.settings.result_url_ttl).await?;
            tracing::info!(pages = manifest.page_count, result_bytes = bytes, "job completed");
            telemetry::job_completed(&done);
            self.notifier().stored_change(&done, Some(url)).await;
        }
        Ok(())
    }
}

/// A manifest lists at most `MAX_PAGES` chunks of a few numbers each.
const MANIFEST_MAX_BYTES: u64 = 4 << 20;

async fn read_json<O: ObjectStore, T: serde::de::DeserializeOwned>(
    objects: &O,
    key: String,
    max_bytes: u64,
) -> Result<T, ChunkError> {
    let bytes = match objects.get(&key, max_bytes).await {
        Ok(bytes) => bytes,
        Err(source) => return Err(ChunkError::ChunkResult { key, source }),
    };
    serde_json::from_slice(&bytes).map_err(|source| ChunkError::ResultJson { key, source })
}
