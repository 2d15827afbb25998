//! How both edges write instants and delivery histories in JSON (the API's answers, the
//! retrieval bundle's files). Transaction times write themselves ([`LocalTime::rfc3339`]).
//!
//! [`LocalTime::rfc3339`]: ereceipt_core::model::LocalTime::rfc3339

use chrono::{DateTime, Utc};

use crate::infra::store::{DeliveryEvent, DeliveryRow};

/// An epoch-millisecond instant (storage, history, signing) as RFC 3339 in the given offset
/// (the terminal's, or UTC), with its milliseconds when it has any.
pub(crate) fn rfc3339(ms: i64, offset_minutes: i32) -> String {
    use chrono::Offset;
    let offset = chrono::FixedOffset::east_opt(offset_minutes * 60).unwrap_or_else(|| Utc.fix());
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.with_timezone(&offset).to_rfc3339()).unwrap_or_default()
}

/// Every delivery of a receipt with its state and history, as the API and the retrieval bundle
/// show them.
pub(crate) fn deliveries_json(list: Vec<(DeliveryRow, Vec<DeliveryEvent>)>) -> Vec<serde_json::Value> {
    list.into_iter()
        .map(|(d, events)| {
            serde_json::json!({
                "channel": d.channel.as_str(), "recipient": d.recipient, "state": d.state.as_str(), "attempts": d.attempts,
                "peer_id": d.peer_id, "last_answer": d.last_answer,
                "history": events.iter().map(|e| serde_json::json!({
                    "at": rfc3339(e.at, 0), "state": e.state.as_str(), "answer": e.answer,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}
