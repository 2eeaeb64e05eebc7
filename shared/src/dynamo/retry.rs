//! Writes that lose a race with a transaction on the same item. DynamoDB reports the race
//! (`TransactionConflictException` on a single write, a `TransactionConflict` cancellation reason
//! in a transaction) and the SDK does not retry it, so this module does, with jittered backoff.

use std::future::Future;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::TransactionCanceledException;

use crate::clock;

/// Tries for a write that loses a race with a transaction on the same item.
const CONFLICT_ATTEMPTS: u32 = 6;

/// 5–10, 10–20, 20–40 … ms: racing workers spread out instead of colliding again.
async fn conflict_backoff(attempt: u32) {
    let base = 10u64 << attempt.min(6);
    let jitter = u64::from(clock::now_nanos_fraction()) % (base / 2 + 1);
    tokio::time::sleep(std::time::Duration::from_millis(base / 2 + jitter)).await;
}

/// Runs `send` again while it fails with an error `is_conflict` accepts, at most
/// [`CONFLICT_ATTEMPTS`] times in all; returns the last outcome as it came.
pub(super) async fn retry_on_conflict<T, E, Fut>(
    mut send: impl FnMut() -> Fut,
    is_conflict: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Err(err) if is_conflict(&err) && attempt + 1 < CONFLICT_ATTEMPTS => {
                conflict_backoff(attempt).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Sends an `UpdateItem`, retrying while it conflicts with an ongoing transaction on the item.
pub(super) async fn send_update(
    request: UpdateItemFluentBuilder,
) -> Result<UpdateItemOutput, SdkError<UpdateItemError>> {
    retry_on_conflict(
        || request.clone().send(),
        |err: &SdkError<UpdateItemError>| {
            err.as_service_error().and_then(|e| e.code()) == Some("TransactionConflictException")
        },
    )
    .await
}

/// Sends a `TransactWriteItems`, retrying while it is cancelled by conflicts alone.
pub(super) async fn send_transaction(
    request: TransactWriteItemsFluentBuilder,
) -> Result<TransactWriteItemsOutput, SdkError<TransactWriteItemsError>> {
    retry_on_conflict(
        || request.clone().send(),
        |err: &SdkError<TransactWriteItemsError>| match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => cancelled_by_conflict(cancel),
            _ => false,
        },
    )
    .await
}

/// Some item conflicted and no condition failed: a failed condition is an answer, which a retry
/// would only give again.
fn cancelled_by_conflict(cancel: &TransactionCanceledException) -> bool {
    let any = |code: &str| cancel.cancellation_reasons().iter().any(|r| r.code() == Some(code));
    any("TransactionConflict") && !any("ConditionalCheckFailed")
}

/// True when the SDK error is a failed `ConditionExpression`.
pub(super) fn is_condition_failure<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::CancellationReason;

    use super::*;

    #[derive(Debug, PartialEq)]
    enum Failure {
        Conflict,
        Other,
    }

    /// Fails with `failures` in turn, then succeeds; counts the calls.
    async fn run(failures: &[Failure]) -> (Result<(), Failure>, usize) {
        let mut calls = 0;
        let outcome = retry_on_conflict(
            || {
                calls += 1;
                let outcome = match failures.get(calls - 1) {
                    Some(Failure::Conflict) => Err(Failure::Conflict),
                    Some(Failure::Other) => Err(Failure::Other),
                    None => Ok(()),
                };
                async move { outcome }
            },
            |err| *err == Failure::Conflict,
        )
        .await;
        (outcome, calls)
    }

    #[tokio::test]
    async fn a_write_that_conflicts_is_sent_again_until_it_goes_through() {
        assert_eq!(run(&[Failure::Conflict, Failure::Conflict]).await, (Ok(()), 3));
    }

    #[tokio::test]
    async fn a_write_that_keeps_conflicting_gives_up_with_the_last_conflict() {
        let always: Vec<_> = (0..CONFLICT_ATTEMPTS * 2).map(|_| Failure::Conflict).collect();
        assert_eq!(run(&always).await, (Err(Failure::Conflict), CONFLICT_ATTEMPTS as usize));
    }

    #[tokio::test]
    async fn a_failure_other_than_a_conflict_is_not_retried() {
        assert_eq!(run(&[Failure::Conflict, Failure::Other]).await, (Err(Failure::Other), 2));
    }

    fn cancelled(codes: &[&str]) -> TransactionCanceledException {
        let reasons = codes.iter().map(|code| CancellationReason::builder().code(*code).build()).collect();
        TransactionCanceledException::builder().set_cancellation_reasons(Some(reasons)).build()
    }

    #[test]
    fn a_transaction_is_retried_only_when_a_conflict_and_no_failed_condition_cancelled_it() {
        assert!(cancelled_by_conflict(&cancelled(&["None", "TransactionConflict"])));
        assert!(cancelled_by_conflict(&cancelled(&["TransactionConflict", "None"])));
        assert!(!cancelled_by_conflict(&cancelled(&["ConditionalCheckFailed", "TransactionConflict"])));
        assert!(!cancelled_by_conflict(&cancelled(&["TransactionConflict", "ConditionalCheckFailed"])));
        assert!(!cancelled_by_conflict(&cancelled(&["None", "ThrottlingError"])));
        assert!(!cancelled_by_conflict(&cancelled(&[])));
    }
}
