//! SQS batch plumbing, apart from the per-message work: which delivery this is, and how a
//! failed message is reported so that only it is retried (`ReportBatchItemFailures`).

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};

/// Whether this delivery is the last before the queue hands the message to its DLQ.
pub fn is_last_delivery(record: &SqsMessage, max_receive_count: u32) -> bool {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n >= max_receive_count)
}

/// Marks `record` failed in the batch response, so only it is delivered again.
pub fn mark_failed(response: &mut SqsBatchResponse, record: &SqsMessage) {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = record.message_id.clone().unwrap_or_default();
    response.batch_item_failures.push(failure);
}

/// Logs `err` with its whole chain of causes, which the user-facing reason leaves out.
pub fn log_failure(record: &SqsMessage, err: &(dyn std::error::Error + 'static)) {
    let mut causes = String::new();
    let mut source = err.source();
    while let Some(cause) = source {
        causes.push_str(": ");
        causes.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(message_id = ?record.message_id, error = %err, causes = %causes, "chunk message failed");
}
