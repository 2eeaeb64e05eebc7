//! The EMF recorder is process-global, so its test is a binary of its own.

use jobcast_shared::telemetry::{self, label, name};

#[test]
fn recorded_metrics_flush_as_emf_documents_with_the_function_and_their_label_as_dimensions() {
    let env = jobcast_shared::config::Env::from_pairs([("METRICS_NAMESPACE", "jobcast/test")]);
    let metrics = telemetry::init(&env, "chunk-worker").expect("the only recorder");
    telemetry::count(name::PUSHES_SENT, 3);
    telemetry::count_by(name::JOBS_FAILED, label::REASON, "backstop_dlq", 1);
    telemetry::count(name::PUSHES_GONE, 0);
    telemetry::millis(name::PUSH_LATENCY, std::time::Duration::from_millis(42));

    let docs = documents(metrics);
    let sent = docs.iter().find(|d| d.get(name::PUSHES_SENT).is_some()).expect("a PushesSent document");
    assert_eq!(sent[name::PUSHES_SENT], 3);
    assert_eq!(sent["Function"], "chunk-worker");
    assert_eq!(sent["_aws"]["CloudWatchMetrics"][0]["Namespace"], "jobcast/test");
    let latency = &sent["_aws"]["CloudWatchMetrics"][0]["Metrics"];
    assert!(
        latency
            .as_array()
            .expect("metrics")
            .iter()
            .any(|m| m["Name"] == name::PUSH_LATENCY && m["Unit"] == "Milliseconds"),
        "{latency}"
    );
    let failed = docs.iter().find(|d| d.get(name::JOBS_FAILED).is_some()).expect("a JobsFailed document");
    assert_eq!((failed[label::REASON].as_str(), failed[name::JOBS_FAILED].as_u64()), (Some("backstop_dlq"), Some(1)));
    assert_eq!(failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0], serde_json::json!(["Function", "Reason"]));
    assert!(docs.iter().all(|d| d.get(name::PUSHES_GONE).is_none()), "a zero count is not written");
    // A write resets what was recorded: the next invocation starts from zero.
    assert!(documents(metrics).iter().all(|d| d.get(name::PUSHES_SENT).is_none()));

    // More samples than the backend holds between flushes (it would block on the 101st): the
    // rest are dropped, the invocation goes on, and the next flush starts a fresh allowance.
    for round in 0..2 {
        for i in 0..250 {
            telemetry::sample(name::FAN_OUT_SIZE, i);
        }
        let docs = documents(metrics);
        let fan_out = docs.iter().find_map(|d| d.get(name::FAN_OUT_SIZE)).expect("FanOutSize samples");
        assert_eq!(fan_out.as_array().map(Vec::len), Some(telemetry::MAX_SAMPLES_PER_FLUSH as usize), "round {round}");
    }
}

fn documents(metrics: telemetry::Metrics) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    metrics.write_to(&mut out).expect("write");
    String::from_utf8(out).expect("utf8").lines().map(|l| serde_json::from_str(l).expect("an EMF document")).collect()
}
