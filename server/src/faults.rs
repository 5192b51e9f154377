//! Fault injection, off unless configured. Each rule names a route (an API
//! route such as `POST /files`, an S3 operation such as `s3:UploadPart`,
//! `s3:*` or `*`) and what may happen to its requests: added latency, an
//! error status, a 429 with `Retry-After`, or a connection dropped in the
//! middle of the request body. Injected API errors have museum's bodies:
//! `{}` for an error status, and a 429 `{"error": …}` as its rate limiter
//! sends, with `Retry-After` only when the rule sets `retryAfterSecs`
//! (museum never sends one).
//!
//! Decisions are a pure function of (seed, route, the request's number on
//! that route), so the same requests against the same seed meet the same
//! faults, whatever other routes do in between: a failing test replays.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper::body::{Frame, SizeHint};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::serve::ConnectionKill;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultConfig {
    #[serde(default)]
    pub seed: u64,
    pub rules: Vec<FaultRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    pub route: String,
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub reset_rate: f64,
    #[serde(default)]
    pub throttle_rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

fn default_status() -> u16 {
    503
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Action {
    Pass,
    Error { status: u16 },
    Throttle { retry_after_secs: Option<u64> },
    Reset,
}

/// Fault rules and request counts, shared by the API and the S3 port.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    config: Option<FaultConfig>,
    /// Requests seen per route since the rules were set (the decision input).
    seen: HashMap<String, u64>,
    /// Requests started (their head arrived) per route and per object
    /// part, for tests to prove what was (not) sent again. Never reset by a
    /// rule change; nor are the maps below.
    counts: BTreeMap<String, u64>,
    /// Requests answered, keyed as `counts`.
    finished: BTreeMap<String, u64>,
    /// Requests whose body stopped before its end (the client went away),
    /// keyed as `counts`: started, never answered.
    cut_off: BTreeMap<String, u64>,
    /// Answers per route (without the object detail) and status.
    statuses: BTreeMap<String, BTreeMap<String, u64>>,
    /// Every fault injected, in order.
    injected: Vec<Injected>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Injected {
    pub route: String,
    pub n: u64,
    pub action: Action,
}

impl Faults {
    pub fn new(config: Option<FaultConfig>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(FaultState {
                config,
                ..FaultState::default()
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set(&self, config: Option<FaultConfig>) {
        let mut state = self.lock();
        state.config = config;
        state.seen.clear();
        state.injected.clear();
    }

    pub fn config(&self) -> Option<FaultConfig> {
        self.lock().config.clone()
    }

    pub fn injected(&self) -> Vec<Injected> {
        self.lock().injected.clone()
    }

    /// What `GET /admin/requests` serves: `started` (also under the older
    /// name `counts`), `finished`, `cutOff` and `statuses`.
    pub fn counts(&self) -> Counts {
        let state = self.lock();
        Counts {
            started: state.counts.clone(),
            finished: state.finished.clone(),
            cut_off: state.cut_off.clone(),
            statuses: state.statuses.clone(),
        }
    }

    /// Records the answer to a request `decide` counted.
    fn finish(&self, route: &str, detail: Option<&str>, status: StatusCode) {
        let mut state = self.lock();
        bump(&mut state.finished, route, detail);
        *state
            .statuses
            .entry(route.to_owned())
            .or_default()
            .entry(status.as_u16().to_string())
            .or_default() += 1;
    }

    /// Records a request whose body never arrived whole.
    fn cut(&self, route: &str, detail: Option<&str>) {
        bump(&mut self.lock().cut_off, route, detail);
    }

    /// Counts the request and decides its fate (and its added latency).
    pub fn decide(&self, route: &str, detail: Option<&str>) -> (Action, Duration) {
        let mut state = self.lock();
        bump(&mut state.counts, route, detail);
        let Some(config) = &state.config else {
            return (Action::Pass, Duration::ZERO);
        };
        let Some(rule) = config
            .rules
            .iter()
            .find(|r| matches(&r.route, route))
            .cloned()
        else {
            return (Action::Pass, Duration::ZERO);
        };
        let seed = config.seed;
        let n = {
            let seen = state.seen.entry(route.to_owned()).or_default();
            *seen += 1;
            *seen
        };
        let draw = |salt: u64| unit(seed, route, n, salt);
        let action = if draw(1) < rule.reset_rate {
            Action::Reset
        } else if draw(2) < rule.throttle_rate {
            Action::Throttle {
                retry_after_secs: rule.retry_after_secs,
            }
        } else if draw(3) < rule.error_rate {
            Action::Error {
                status: rule.status,
            }
        } else {
            Action::Pass
        };
        if action != Action::Pass {
            state.injected.push(Injected {
                route: route.to_owned(),
                n,
                action,
            });
        }
        (action, Duration::from_millis(rule.latency_ms))
    }
}

/// Request counts per route, and per route and object detail
/// (`s3:UploadPart /ferry/<key>#<part>`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub started: BTreeMap<String, u64>,
    pub finished: BTreeMap<String, u64>,
    pub cut_off: BTreeMap<String, u64>,
    pub statuses: BTreeMap<String, BTreeMap<String, u64>>,
}

fn bump(map: &mut BTreeMap<String, u64>, route: &str, detail: Option<&str>) {
    *map.entry(route.to_owned()).or_default() += 1;
    if let Some(detail) = detail {
        *map.entry(format!("{route} {detail}")).or_default() += 1;
    }
}

fn matches(pattern: &str, route: &str) -> bool {
    pattern == "*"
        || pattern == route
        || pattern
            .strip_suffix('*')
            .is_some_and(|prefix| route.starts_with(prefix))
}

/// A uniform draw in [0, 1) from (seed, route, n, salt): splitmix64 over an
/// FNV-1a hash of the route.
fn unit(seed: u64, route: &str, n: u64, salt: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in route.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ h ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Which port a middleware instance guards: routes are named differently.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    Api,
    S3,
}

/// The name a request goes by in rules and counts, and a detail (the object
/// and part) for S3 writes.
fn route_of(side: Side, req: &Request) -> (String, Option<String>) {
    match side {
        Side::Api => {
            let path = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("<unmatched>", MatchedPath::as_str);
            (format!("{} {path}", req.method()), None)
        }
        Side::S3 => {
            let query = req.uri().query().unwrap_or("");
            let has = |name: &str| {
                query
                    .split('&')
                    .any(|pair| pair.split('=').next() == Some(name))
            };
            let param = |name: &str| {
                query.split('&').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    (k == name).then(|| v.to_owned())
                })
            };
            let path = req.uri().path().to_owned();
            let op = match *req.method() {
                Method::PUT if has("partNumber") => "UploadPart",
                Method::PUT => "PutObject",
                Method::POST if has("uploads") => "CreateMultipartUpload",
                Method::POST if has("uploadId") => "CompleteMultipartUpload",
                Method::GET => "GetObject",
                Method::HEAD => "HeadObject",
                Method::DELETE => "DeleteObject",
                Method::OPTIONS => "Preflight",
                _ => "Other",
            };
            let detail = match op {
                "UploadPart" => Some(format!(
                    "{path}#{}",
                    param("partNumber").unwrap_or_default()
                )),
                "PutObject" | "CompleteMultipartUpload" => Some(path),
                _ => None,
            };
            (format!("s3:{op}"), detail)
        }
    }
}

pub async fn inject(
    State((faults, side)): State<(Arc<Faults>, Side)>,
    req: Request,
    next: Next,
) -> Response {
    let (route, detail) = route_of(side, &req);
    // Preflights are the browser's, and the admin API is how a test turns
    // faults off: neither may meet a fault itself.
    if route == "s3:Preflight" || route.contains(" /admin/") {
        return next.run(req).await;
    }
    let (action, latency) = faults.decide(&route, detail.as_deref());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match action {
        Action::Pass => {
            let cut = Arc::new(CutOff::default());
            let req = req.map(|inner| {
                Body::new(Watched {
                    inner,
                    cut: cut.clone(),
                })
            });
            tokio::select! {
                biased;
                () = cut.notify.notified() => {
                    faults.cut(&route, detail.as_deref());
                    tracing::debug!(
                        %route,
                        detail = detail.as_deref().unwrap_or(""),
                        "the request body stopped before its end: the client went away"
                    );
                    return client_gone();
                }
                response = next.run(req) => response,
            }
        }
        Action::Error { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let why = format!("injected fault on {route}");
            match side {
                Side::Api => ApiError::plain(status, why),
                Side::S3 => ApiError::coded(status, "INJECTED_FAULT", why),
            }
            .into_response()
        }
        Action::Throttle { retry_after_secs } => {
            let mut err = ApiError::middleware(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit breached, try later",
            );
            err.retry_after = retry_after_secs;
            err.into_response()
        }
        Action::Reset => return reset(req).await,
    };
    faults.finish(&route, detail.as_deref(), response.status());
    response
}

/// nginx's "client closed request": what a request whose body was cut off
/// is answered, if anything can still read it. It is the client's doing (a
/// page reloaded, a service worker stopped, the network gone), not a
/// server error.
pub const CLIENT_CLOSED_REQUEST: u16 = 499;

fn client_gone() -> Response {
    Response::builder()
        .status(StatusCode::from_u16(CLIENT_CLOSED_REQUEST).unwrap_or(StatusCode::BAD_REQUEST))
        .header(axum::http::header::CONNECTION, "close")
        .body(Body::empty())
        .unwrap_or_default()
}

/// Set once the request body failed: the connection closed or reset before
/// the body's end.
#[derive(Debug, Default)]
struct CutOff {
    seen: AtomicBool,
    notify: Notify,
}

/// The request body as the handler reads it. A failure of the underlying
/// body (it only fails when the client stops sending) is not passed on: the
/// handler would take it for a server error (the store answers 500 and logs
/// it), so instead the body never yields again and `inject` drops the
/// handler, which removes whatever it had half written.
struct Watched {
    inner: Body,
    cut: Arc<CutOff>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.cut.seen.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Err(err))) => {
                tracing::trace!(%err, "request body failed");
                self.cut.seen.store(true, Ordering::Release);
                self.cut.notify.notify_one();
                Poll::Pending
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads part of the request body, then drops the connection with no
/// response at all, as a network failure mid-upload would.
async fn reset(req: Request) -> Response {
    let kill = req.extensions().get::<ConnectionKill>().cloned();
    let expected = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = req.into_body().into_data_stream();
    let mut read = 0usize;
    while read < expected / 2 {
        match body.next().await {
            Some(Ok(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
    match kill {
        Some(kill) => {
            kill.fire();
            std::future::pending::<Response>().await
        }
        None => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::empty())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_replay_for_a_seed_and_differ_across_seeds() {
        let config = |seed| {
            Some(FaultConfig {
                seed,
                rules: vec![FaultRule {
                    route: "s3:*".into(),
                    error_rate: 0.3,
                    status: 503,
                    latency_ms: 0,
                    reset_rate: 0.1,
                    throttle_rate: 0.1,
                    retry_after_secs: Some(1),
                }],
            })
        };
        let run = |seed| {
            let faults = Faults::new(config(seed));
            (0..200)
                .map(|i| {
                    faults
                        .decide(
                            if i % 3 == 0 {
                                "s3:PutObject"
                            } else {
                                "s3:UploadPart"
                            },
                            None,
                        )
                        .0
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let actions = run(7);
        let errors = actions
            .iter()
            .filter(|a| matches!(a, Action::Error { .. }))
            .count();
        assert!(
            (20..100).contains(&errors),
            "{errors} errors of 200 at rate 0.3"
        );
        assert!(actions.contains(&Action::Reset));
        assert!(actions.iter().any(|a| matches!(a, Action::Throttle { .. })));
    }

    #[test]
    fn routes_match_exactly_by_prefix_or_all() {
        assert!(matches("*", "POST /files"));
        assert!(matches("s3:*", "s3:UploadPart"));
        assert!(matches("POST /files", "POST /files"));
        assert!(!matches("POST /files", "POST /files/x"));
        assert!(!matches("s3:PutObject", "s3:UploadPart"));
    }
}
