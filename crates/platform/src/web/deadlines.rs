//! Time limits on every request of both listeners: the whole request within
//! `request_timeout_secs`, and a body at a minimum average rate after a grace. Either one
//! exceeded answers 408 and closes the connection. It also tells the connection cap when a
//! request is being answered (then its connection is not closed to make room).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::infra::listener::{Activity, ListenerLimits, Serving};

/// Why a body stopped.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
struct BodyTooSlow;

/// The middleware (`axum::middleware::from_fn_with_state(limits, limit_request)`).
pub async fn limit_request(State(limits): State<Arc<ListenerLimits>>, req: Request, next: Next) -> Response {
    let activity = req.extensions().get::<Arc<Activity>>().cloned();
    let too_slow = Arc::new(AtomicBool::new(false));
    // The request is being answered from when its body is complete until its answer is made.
    let serving: Arc<Mutex<Option<Serving>>> = Arc::default();
    let req = if req.body().is_end_stream() {
        if let (Ok(mut s), Some(a)) = (serving.lock(), &activity) {
            *s = Some(a.serving());
        }
        req
    } else {
        let (parts, body) = req.into_parts();
        let paced = paced(body, &limits, too_slow.clone(), activity, serving.clone());
        Request::from_parts(parts, paced)
    };
    let answer = tokio::time::timeout(limits.request_timeout(), next.run(req)).await;
    if let Ok(mut s) = serving.lock() {
        // Answer made: the connection waits on its client again.
        s.take();
    }
    match answer {
        Ok(response) if !too_slow.load(Ordering::Acquire) => response,
        Ok(_) => timed_out("the request body arrived too slowly"),
        Err(_) => timed_out("the request took too long"),
    }
}

/// 408 with `Connection: close`: the client is not worth keeping the connection open for.
fn timed_out(message: &'static str) -> Response {
    tracing::info!(message, "request timed out");
    let body = serde_json::json!({ "error": "request_timeout", "message": message }).to_string();
    let mut r = (StatusCode::REQUEST_TIMEOUT, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// `body`, which fails with [`BodyTooSlow`] (setting `too_slow`) once fewer than
/// `min_body_bytes_per_sec × (elapsed − grace)` bytes have arrived.
fn paced(
    body: Body,
    limits: &ListenerLimits,
    too_slow: Arc<AtomicBool>,
    activity: Option<Arc<Activity>>,
    serving: Arc<Mutex<Option<Serving>>>,
) -> Body {
    struct Pace {
        inner: axum::body::BodyDataStream,
        started: Instant,
        grace: Duration,
        rate: f64,
        received: u64,
        done: bool,
        too_slow: Arc<AtomicBool>,
        activity: Option<Arc<Activity>>,
        serving: Arc<Mutex<Option<Serving>>>,
    }
    let pace = Pace {
        inner: body.into_data_stream(),
        started: Instant::now(),
        grace: Duration::from_secs(limits.body_grace_secs),
        // Precision is irrelevant at these magnitudes.
        #[allow(clippy::cast_precision_loss)]
        rate: limits.min_body_bytes_per_sec.max(1) as f64,
        received: 0,
        done: false,
        too_slow,
        activity,
        serving,
    };
    let stream = futures_util::stream::unfold(pace, |mut p| async move {
        if p.done {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let allowed = p.grace + Duration::from_secs_f64(p.received as f64 / p.rate);
        tokio::select! {
            item = p.inner.next() => match item {
                Some(Ok(bytes)) => {
                    p.received = p.received.saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
                    Some((Ok(bytes), p))
                }
                Some(Err(e)) => {
                    p.done = true;
                    Some((Err(e), p))
                }
                None => {
                    if let (Ok(mut s), Some(a)) = (p.serving.lock(), &p.activity) {
                        *s = Some(a.serving());
                    }
                    None
                }
            },
            () = tokio::time::sleep_until(p.started + allowed) => {
                p.too_slow.store(true, Ordering::Release);
                p.done = true;
                Some((Err(axum::Error::new(BodyTooSlow)), p))
            }
        }
    });
    Body::from_stream(stream)
}
