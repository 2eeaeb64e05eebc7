//! Attribute mapping: building attribute values and reading them back, the job item.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::ids::{InvalidId, JobId, UserId};
use crate::job::Job;
use crate::ports::StoreError;

pub(super) type Item = HashMap<String, AttributeValue>;

/// Present only while a job is not finished, so the `byOpenStage` index holds open jobs only
/// (a sparse index): the sweeper queries it per stage, sorted by `stageSince`, never scanning.
pub(super) const OPEN_STAGE: &str = "openStage";

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!("attribute {name} is missing or not a string"))),
    }
}

pub(super) fn get_n<T: FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => {
            v.parse().map_err(|_| StoreError::Corrupt(format!("attribute {name} is out of range: {v}")))
        }
        _ => Err(StoreError::Corrupt(format!("attribute {name} is missing or not a number"))),
    }
}

pub(super) fn get_opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub(super) fn corrupt(what: &str) -> impl Fn(InvalidId) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

pub(super) fn job_from_item(item: &Item) -> Result<Job, StoreError> {
    Ok(Job {
        id: JobId::parse(get_s(item, "jobId")?).map_err(corrupt("jobId"))?,
        owner: UserId::parse(get_s(item, "userId")?).map_err(corrupt("userId"))?,
        stage: get_s(item, "stage")?.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))?,
        chunks_done: get_n(item, "chunksDone")?,
        chunks_total: get_n(item, "chunksTotal")?,
        seq: get_n(item, "seq")?,
        file_name: get_opt_s(item, "fileName"),
        error: get_opt_s(item, "error"),
        created_at: get_n(item, "createdAt")?,
        updated_at: get_n(item, "updatedAt")?,
    })
}

pub(super) fn job_to_item(job: &Job) -> Item {
    let mut item = Item::from([
        ("jobId".to_owned(), s(job.id.as_str())),
        ("userId".to_owned(), s(job.owner.as_str())),
        ("stage".to_owned(), s(job.stage.as_str())),
        ("chunksDone".to_owned(), n(job.chunks_done)),
        ("chunksTotal".to_owned(), n(job.chunks_total)),
        ("seq".to_owned(), n(job.seq)),
        ("createdAt".to_owned(), n(job.created_at)),
        ("updatedAt".to_owned(), n(job.updated_at)),
        ("pushedProgress".to_owned(), n(job.progress().percent)),
        ("stageSince".to_owned(), n(job.updated_at)),
    ]);
    if !job.stage.is_terminal() {
        item.insert(OPEN_STAGE.to_owned(), s(job.stage.as_str()));
    }
    if let Some(name) = &job.file_name {
        item.insert("fileName".to_owned(), s(name));
    }
    if let Some(error) = &job.error {
        item.insert("error".to_owned(), s(error));
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Stage;

    #[test]
    fn a_job_survives_the_round_trip_through_an_item() {
        let job = Job {
            id: JobId::parse("j1").expect("id"),
            owner: UserId::parse("alice").expect("id"),
            stage: Stage::Processing,
            chunks_done: 3,
            chunks_total: 7,
            seq: 12,
            file_name: Some("report.pdf".into()),
            error: None,
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_500,
        };
        let item = job_to_item(&job);
        assert_eq!(job_from_item(&item).expect("parses"), job);
        assert_eq!(item.get("pushedProgress"), Some(&n(job.progress().percent)));
    }

    #[test]
    fn a_corrupt_item_is_an_error_not_a_panic() {
        let mut item = job_to_item(&Job {
            id: JobId::parse("j1").expect("id"),
            owner: UserId::parse("alice").expect("id"),
            stage: Stage::Queued,
            chunks_done: 0,
            chunks_total: 0,
            seq: 0,
            file_name: None,
            error: None,
            created_at: 0,
            updated_at: 0,
        });
        item.insert("stage".into(), s("exploded"));
        assert!(matches!(job_from_item(&item), Err(StoreError::Corrupt(_))));
        item.insert("stage".into(), s("queued"));
        item.insert("seq".into(), n(-1));
        assert!(matches!(job_from_item(&item), Err(StoreError::Corrupt(_))));
        item.remove("userId");
        assert!(matches!(job_from_item(&item), Err(StoreError::Corrupt(_))));
    }
}
