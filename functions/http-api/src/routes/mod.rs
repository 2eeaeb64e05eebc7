//! One module per route. Each gets the verified caller and answers, or returns an
//! [`ApiError`](crate::error::ApiError) that `error` turns into the response.

pub(crate) mod create;
pub(crate) mod list;
pub(crate) mod result;
pub(crate) mod status;

use jobcast_shared::ids::{JobId, UserId};
use jobcast_shared::job::Job;
use jobcast_shared::ports::JobReader;

use crate::error::ApiError;

/// The caller's job; someone else's job and a missing one are the same 404.
async fn owned_job<S: JobReader>(store: &S, user: &UserId, raw_id: &str) -> Result<Job, ApiError> {
    // An id that cannot exist is simply not found: no hint about what ids look like.
    let id = JobId::parse(raw_id).map_err(|_| ApiError::JobNotFound)?;
    store.get_job(&id).await?.filter(|job| job.is_owned_by(user)).ok_or(ApiError::JobNotFound)
}
