//! The alert webhook: each alert change of a watch, POSTed as JSON to one URL
//! (a Slack or Microsoft Teams incoming webhook, or any receiver).
//!
//! Invariants:
//!
//! - Alerting never holds up the watch: [`Webhook::send`] only queues (a
//!   bounded queue of [`QUEUE`] notices; when it is full the oldest notice
//!   is dropped and counted), and one task delivers the notices in order.
//! - Each POST has a timeout ([`TIMEOUT`]) and is retried after 0.5 s, 1 s
//!   and 2 s ([`BACKOFF`]) on a connection error, a timeout, a 5xx or a 429
//!   (longer if the answer's `Retry-After` asks, up to 30 s); never on
//!   another answer. A notice that still fails is counted and logged to
//!   stderr as one sentence; nothing stops.
//! - The URL is a secret (a Slack webhook's path *is* its credential; a
//!   Teams workflow's query carries a signature): what is logged names only
//!   its origin (`https://hooks.slack.com`), and every logged message is
//!   scrubbed of the path, query and password besides. The client sends no
//!   `Referer`, follows a redirect only to the same scheme, host and port
//!   (at most 5), and never to another host.
//! - The client is the webhook's own (no target's pinning or trust
//!   settings). It keeps reqwest's default proxy handling: `HTTPS_PROXY`,
//!   `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (or their lower-case forms)
//!   from the environment apply, as a chat webhook usually leaves a
//!   corporate network through that proxy; no system proxy settings are
//!   read (reqwest's `system-proxy` feature is off).
//! - `stop` ends the delivery task once its queue is empty: notices sent
//!   before then (the watch's last one included) are still delivered, with
//!   retries; a notice sent after that is counted as dropped.
//!   [`Webhook::flush`] bounds how long the end of a watch waits
//!   ([`FLUSH_LIMIT`]).
//!
//! # The body
//!
//! `{"text": "<one line>", "cutover": {<the notice's fields>}}`, with
//! `Content-Type: application/json`. What the services are known to accept
//! (looked up for this module):
//!
//! - **Slack** incoming webhooks post `text`; a top-level key Slack does not
//!   know is ignored: a body with a `meta` object beside `text` posts, the
//!   same body without `text` is refused with
//!   `missing_text_or_fallback_or_attachments` (hastic-server#708).
//!   In Slack's `text`, `&`, `<` and `>` are control characters (`<!channel>`
//!   pings a channel), so for `hooks.slack.com` they are escaped as Slack
//!   asks (`&amp;`, `&lt;`, `&gt;`). Slack refuses with a 4xx and a short
//!   reason (`invalid_payload`, `no_service`, `channel_is_archived`), which
//!   the logged sentence quotes.
//! - **Teams, Office 365 / Microsoft 365 connector** (`*.webhook.office.com`):
//!   a MessageCard; `{"text": …}` is the minimal one and other keys are
//!   ignored (a body of only unknown keys is refused with "Summary or Text
//!   is required"; with a `text` beside them, the text is posted:
//!   microsoft/AdaptiveCards#1256). Microsoft is retiring these connectors
//!   in favour of Workflows.
//! - **Teams, Workflows** ("Post to a channel when a webhook request is
//!   received"; URLs on `*.logic.azure.com`, and since November 2025
//!   `*.environment.api.powerplatform.com`): the template loops over the
//!   body's `attachments` and posts each Adaptive Card; a body with only
//!   `text` makes the flow fail ("the result of the evaluation of 'foreach'
//!   expression '@triggerOutputs()?['body']?['attachments']' is of type
//!   'Null'", MicrosoftDocs/msteams-docs#11302), after the URL has already
//!   answered 202. So `text` alone is *not* enough for Teams: for those
//!   hosts the body also carries `"type": "message"` and one Adaptive Card
//!   with the text in `attachments` ([`Destination::TeamsWorkflow`]); the
//!   flow reads nothing else, so `text` and `cutover` stay. A 202 from a
//!   workflow means accepted, not posted: a failing flow shows only in its
//!   run history.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::Url;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Notices waiting to be delivered, at most.
pub const QUEUE: usize = 256;
/// How long one POST may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The waits before the retries of a notice.
pub const BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];
/// How long [`Webhook::flush`] waits, at most.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(5);
/// The longest `Retry-After` honoured.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);
/// Same-origin redirects followed, at most.
const REDIRECTS: usize = 5;

/// One alert change as the webhook sends it.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// One line for people; line breaks are sent as spaces.
    pub text: String,
    /// Sent under the body's `cutover` key, for receivers that read JSON.
    pub fields: serde_json::Value,
}

/// What became of the notices so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Answered with a 2xx.
    pub delivered: u64,
    /// Given up after the retries (or at once, on an answer not worth
    /// retrying).
    pub failed: u64,
    /// Pushed out of a full queue, or sent after the delivery task ended.
    pub dropped: u64,
    /// Queued or being delivered right now.
    pub pending: u64,
}

/// The delivery task's handle: cheap to clone, all clones share the queue.
#[derive(Clone)]
pub struct Webhook {
    shared: Arc<Shared>,
}

/// Where a logged sentence goes (stderr; a test collects them).
type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// Timings and limits; [`Settings::default`] holds the module's constants,
/// tests shorten them.
#[derive(Clone)]
pub(crate) struct Settings {
    pub queue: usize,
    pub timeout: Duration,
    pub backoff: Vec<Duration>,
    pub flush_limit: Duration,
    pub log: Log,
    /// Whether proxy variables of the environment apply (reqwest's default);
    /// off in tests, whose receivers are on loopback.
    pub env_proxy: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            queue: QUEUE,
            timeout: TIMEOUT,
            backoff: BACKOFF.to_vec(),
            flush_limit: FLUSH_LIMIT,
            env_proxy: true,
            log: Arc::new(|line: &str| {
                use std::io::Write as _;
                // A closed stderr must not stop the watch (eprintln! panics).
                let _ = writeln!(std::io::stderr(), "warning: {line}");
            }),
        }
    }
}

struct Shared {
    state: Mutex<State>,
    /// The task waits here for a notice.
    wake: Notify,
    /// [`Webhook::flush`] waits here for an empty queue.
    idle: Notify,
    /// `scheme://host[:port]`: the only part of the URL ever shown.
    origin: String,
    settings: Settings,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Notice>,
    in_flight: bool,
    /// The task has ended; nothing more will be delivered.
    closed: bool,
    delivered: u64,
    failed: u64,
    dropped: u64,
}

impl State {
    fn pending(&self) -> u64 {
        self.queue.len() as u64 + u64::from(self.in_flight)
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; if one did, the counts are
        // still the best there are.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self, line: &str) {
        (self.settings.log)(line);
    }
}

impl Webhook {
    /// Starts the delivery task for `url` (see the module docs); must be
    /// called inside a Tokio runtime.
    pub fn start(url: Url, stop: tokio::sync::watch::Receiver<bool>) -> Webhook {
        Webhook::start_with(url, stop, Settings::default())
    }

    pub(crate) fn start_with(
        url: Url,
        stop: tokio::sync::watch::Receiver<bool>,
        settings: Settings,
    ) -> Webhook {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            idle: Notify::new(),
            origin: origin(&url),
            settings,
        });
        let client = client(&shared.settings).map_err(|e| {
            scrub(
                &format!(
                    "cannot set up an HTTP client for the alert webhook at {}: {}",
                    shared.origin,
                    innermost(&e)
                ),
                &url,
            )
        });
        tokio::spawn(deliver_all(Arc::clone(&shared), client, url, stop));
        Webhook { shared }
    }

    /// Queues a notice and returns at once.
    pub fn send(&self, notice: Notice) {
        let mut state = self.shared.state();
        if state.closed {
            state.dropped += 1;
            return;
        }
        if state.queue.len() >= self.shared.settings.queue.max(1) {
            state.queue.pop_front();
            state.dropped += 1;
        }
        state.queue.push_back(notice);
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Waits (at most [`FLUSH_LIMIT`]) until every queued notice is
    /// delivered or given up: for the end of the watch. What is still
    /// pending then is logged and shows in [`Webhook::stats`].
    pub async fn flush(&self) {
        let limit = self.shared.settings.flush_limit;
        let deadline = Instant::now() + limit;
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            // Registered before the check, so an idle signal between the
            // check and the wait is not missed.
            idle.as_mut().enable();
            let pending = self.shared.state().pending();
            if pending == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                self.shared.log(&format!(
                    "{} to the alert webhook at {} {} still undelivered after waiting {} at the end.",
                    plural(pending, "notice", "notices"),
                    self.shared.origin,
                    if pending == 1 { "was" } else { "were" },
                    humantime::format_duration(limit)
                ));
                return;
            }
        }
    }

    /// Delivered, failed (after retries), dropped and pending counts so far.
    pub fn stats(&self) -> WebhookStats {
        let s = self.shared.state();
        WebhookStats {
            delivered: s.delivered,
            failed: s.failed,
            dropped: s.dropped,
            pending: s.pending(),
        }
    }
}

/// The delivery task: one notice at a time, in order, until `stop` and an
/// empty queue.
async fn deliver_all(
    shared: Arc<Shared>,
    client: Result<reqwest::Client, String>,
    url: Url,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let destination = Destination::of(&url);
    let mut stopped = false;
    loop {
        let next = {
            let mut state = shared.state();
            let next = state.queue.pop_front();
            state.in_flight = next.is_some();
            // Closed under the same lock `send` takes: no notice can slip
            // in between the last look at the queue and the end.
            state.closed = next.is_none() && (stopped || *stop.borrow());
            next
        };
        let Some(notice) = next else {
            if shared.state().closed {
                shared.idle.notify_waiters();
                return;
            }
            tokio::select! {
                () = shared.wake.notified() => {}
                // A dropped sender ends the watch too.
                changed = stop.changed() => stopped |= changed.is_err(),
            }
            continue;
        };
        let bytes = body(destination, &notice).to_string().into_bytes();
        let result = match &client {
            Ok(c) => deliver(c, &url, bytes, &shared.settings).await,
            Err(why) => Err((Failure::Setup(why.clone()), 0)),
        };
        if let Err((failure, attempts)) = &result {
            shared.log(&scrub(
                &failure_message(&shared.origin, failure, *attempts),
                &url,
            ));
        }
        let mut state = shared.state();
        state.in_flight = false;
        match result {
            Ok(()) => state.delivered += 1,
            Err(_) => state.failed += 1,
        }
        if state.pending() == 0 {
            drop(state);
            shared.idle.notify_waiters();
        }
    }
}

/// POSTs one body, retrying as the module docs say; on failure, why and
/// after how many attempts.
async fn deliver(
    client: &reqwest::Client,
    url: &Url,
    body: Vec<u8>,
    settings: &Settings,
) -> Result<(), (Failure, usize)> {
    let mut attempt = 0;
    loop {
        let failure = match post(client, url, body.clone(), settings.timeout).await {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        attempt += 1;
        let Some(wait) = settings
            .backoff
            .get(attempt - 1)
            .filter(|_| failure.retry())
        else {
            return Err((failure, attempt));
        };
        let wait = match &failure {
            Failure::Status {
                retry_after: Some(r),
                ..
            } => (*wait).max((*r).min(RETRY_AFTER_CAP)),
            _ => *wait,
        };
        tokio::time::sleep(wait).await;
    }
}

/// Why one POST did not deliver.
#[derive(Clone, Debug, PartialEq)]
enum Failure {
    /// The client could not be built.
    Setup(String),
    /// Connection refused, reset, DNS, TLS, …
    Connect(String),
    Timeout(Duration),
    /// An answer that is not a 2xx (a 3xx: a redirect not followed).
    Status {
        status: reqwest::StatusCode,
        /// The start of the answer's body, on one line.
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Anything else reqwest reports.
    Request(String),
}

impl Failure {
    /// Worth another attempt: the receiver may be back in a moment.
    fn retry(&self) -> bool {
        match self {
            Failure::Connect(_) | Failure::Timeout(_) => true,
            Failure::Status { status, .. } => {
                status.is_server_error() || *status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            Failure::Setup(_) | Failure::Request(_) => false,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Setup(why) => f.write_str(why),
            Failure::Connect(why) => write!(f, "it could not be reached ({why})"),
            Failure::Timeout(t) => write!(
                f,
                "it did not answer within {}",
                humantime::format_duration(*t)
            ),
            Failure::Status { status, reason, .. } => {
                write!(f, "it answered {status}")?;
                if status.is_redirection() {
                    f.write_str(
                        ", a redirect a webhook does not follow (to another host, or one too many)",
                    )?;
                }
                if !reason.is_empty() {
                    write!(f, " (`{reason}`)")?;
                }
                Ok(())
            }
            Failure::Request(why) => write!(f, "the request failed ({why})"),
        }
    }
}

/// The one sentence logged for a notice given up.
fn failure_message(origin: &str, failure: &Failure, attempts: usize) -> String {
    match failure {
        Failure::Setup(why) => format!("{why}; the notice is not sent and the watch goes on."),
        _ => format!(
            "the alert webhook at {origin} did not take a notice after {}: {failure}; the watch goes on.",
            plural(attempts as u64, "attempt", "attempts")
        ),
    }
}

async fn post(
    client: &reqwest::Client,
    url: &Url,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), Failure> {
    let sent = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let mut response = match sent {
        Ok(r) => r,
        Err(e) => return Err(classify(e, timeout)),
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after);
    // The first chunk is enough for Slack's `invalid_payload` and the like.
    let reason = match response.chunk().await {
        Ok(Some(chunk)) => reason(&chunk),
        _ => String::new(),
    };
    Err(Failure::Status {
        status,
        reason,
        retry_after,
    })
}

/// A reqwest error as a failure, described without its URL.
fn classify(e: reqwest::Error, timeout: Duration) -> Failure {
    let e = e.without_url();
    if e.is_timeout() {
        Failure::Timeout(timeout)
    } else if e.is_connect() {
        Failure::Connect(innermost(&e))
    } else {
        Failure::Request(innermost(&e))
    }
}

/// The innermost cause of an error (`Connection refused (os error 111)`):
/// the most specific sentence, and never one naming a request's URL.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// `Retry-After` in seconds (the HTTP-date form is not worth a parser here).
fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The start of an answer's body as one printable line (at most 120
/// characters).
fn reason(body: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(body);
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

/// The webhook's own client (see the module docs for proxies and redirects).
fn client(settings: &Settings) -> Result<reqwest::Client, reqwest::Error> {
    crate::target::init_tls();
    let mut builder = reqwest::Client::builder();
    if !settings.env_proxy {
        builder = builder.no_proxy();
    }
    builder
        .timeout(settings.timeout)
        .referer(false)
        .retry(reqwest::retry::never())
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if same_origin && attempt.previous().len() <= REDIRECTS {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `scheme://host[:port]`, without user, password, path or query.
fn origin(url: &Url) -> String {
    let origin = url.origin();
    if origin.is_tuple() {
        origin.ascii_serialization()
    } else {
        format!("a `{}:` URL", url.scheme())
    }
}

/// `text` with every secret part of `url` (path, its longer segments, the
/// query and its values, user and password) replaced by `…`.
fn scrub(text: &str, url: &Url) -> String {
    let mut secrets: Vec<String> = Vec::new();
    if url.path().len() > 1 {
        secrets.push(url.path().to_owned());
    }
    secrets.extend(
        url.path_segments()
            .into_iter()
            .flatten()
            .filter(|s| s.len() >= 6)
            .map(str::to_owned),
    );
    if let Some(q) = url.query().filter(|q| !q.is_empty()) {
        secrets.push(q.to_owned());
    }
    secrets.extend(
        url.query_pairs()
            .map(|(_, v)| v.into_owned())
            .filter(|v| v.len() >= 6),
    );
    secrets.extend(url.password().map(str::to_owned));
    if !url.username().is_empty() {
        secrets.push(url.username().to_owned());
    }
    // Longest first, so a segment does not break up the whole path.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for s in &secrets {
        out = out.replace(s.as_str(), "…");
    }
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Which kind of receiver a webhook URL points at, by its host: what the
/// body must carry (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `hooks.slack.com`: `text` with `&`, `<`, `>` escaped.
    Slack,
    /// A Teams workflow (`*.logic.azure.com`,
    /// `*.api.powerplatform.com`): an Adaptive Card in `attachments` too.
    TeamsWorkflow,
    /// Anything else, the Teams connector included: `text` as it is.
    Other,
}

impl Destination {
    pub fn of(url: &Url) -> Destination {
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if host == "hooks.slack.com" || host == "hooks.slack-gov.com" {
            Destination::Slack
        } else if host.ends_with(".logic.azure.com") || host.ends_with(".api.powerplatform.com") {
            Destination::TeamsWorkflow
        } else {
            Destination::Other
        }
    }
}

/// The JSON body of a notice for a destination.
pub fn body(destination: Destination, notice: &Notice) -> serde_json::Value {
    let line: String = notice
        .text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned();
    let text = match destination {
        Destination::Slack => line
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
        Destination::TeamsWorkflow | Destination::Other => line.clone(),
    };
    let mut body = serde_json::json!({ "text": text, "cutover": notice.fields });
    if destination == Destination::TeamsWorkflow {
        body["type"] = "message".into();
        body["attachments"] = serde_json::json!([{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [{ "type": "TextBlock", "text": line, "wrap": true }],
            },
        }]);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// How the test receiver answers one request.
    #[derive(Clone, Debug)]
    enum Answer {
        Status(u16, &'static str),
        /// The status, with the request's path and query as the body (a
        /// hostile receiver echoing the secret).
        Echo(u16),
        Redirect(u16, String),
        /// Reads the request and never answers.
        Hang,
    }

    #[derive(Clone, Debug)]
    struct Seen {
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).expect("the body is JSON")
        }
    }

    struct Receiver {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl Receiver {
        fn url(&self, path: &str) -> Url {
            Url::parse(&format!("http://{}{path}", self.addr)).expect("url")
        }

        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().expect("lock").clone()
        }
    }

    /// A webhook receiver on 127.0.0.1:0 answering `answers` in turn, then
    /// 200 `ok`; one request per connection.
    async fn receiver(answers: Vec<Answer>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (log, answers) = (Arc::clone(&log), Arc::clone(&answers));
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let target = request.target.clone();
                    log.lock().expect("lock").push(request);
                    let answer = answers
                        .lock()
                        .expect("lock")
                        .pop_front()
                        .unwrap_or(Answer::Status(200, "ok"));
                    let (code, extra, body) = match answer {
                        Answer::Hang => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        Answer::Status(code, body) => (code, String::new(), body.to_owned()),
                        Answer::Echo(code) => (code, String::new(), target),
                        Answer::Redirect(code, to) => {
                            (code, format!("location: {to}\r\n"), String::new())
                        }
                    };
                    let answer = format!(
                        "HTTP/1.1 {code} Test\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Receiver { addr, seen }
    }

    async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Seen> {
        let mut buf = Vec::new();
        let head_end = loop {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.lines();
        let mut first = lines.next()?.split(' ');
        let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Some(Seen {
            method,
            target,
            headers,
            body,
        })
    }

    /// Short timings, and the logged sentences collected.
    fn quick() -> (Settings, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let settings = Settings {
            queue: QUEUE,
            timeout: Duration::from_millis(300),
            backoff: vec![
                Duration::from_millis(10),
                Duration::from_millis(20),
                Duration::from_millis(40),
            ],
            flush_limit: Duration::from_secs(5),
            env_proxy: false,
            log: Arc::new(move |line: &str| sink.lock().expect("lock").push(line.to_owned())),
        };
        (settings, lines)
    }

    fn notice(text: &str) -> Notice {
        Notice {
            text: text.to_owned(),
            fields: serde_json::json!({ "alert": "spike_503", "state": "firing", "target": "gateway" }),
        }
    }

    fn start(url: Url, settings: Settings) -> Webhook {
        // The watch's stop channel: never set in these tests.
        let (tx, rx) = tokio::sync::watch::channel(false);
        std::mem::forget(tx);
        Webhook::start_with(url, rx, settings)
    }

    fn stats(delivered: u64, failed: u64, dropped: u64) -> WebhookStats {
        WebhookStats {
            delivered,
            failed,
            dropped,
            pending: 0,
        }
    }

    #[tokio::test]
    async fn a_notice_is_posted_as_json_text_with_the_fields_under_cutover() {
        let r = receiver(vec![]).await;
        let (settings, logged) = quick();
        let hook = start(r.url("/hook"), settings);
        hook.send(notice("FIRING 503 spike on gateway"));
        hook.flush().await;
        assert_eq!(hook.stats(), stats(1, 0, 0));
        let seen = r.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            (seen[0].method.as_str(), seen[0].target.as_str()),
            ("POST", "/hook")
        );
        assert_eq!(seen[0].header("content-type"), Some("application/json"));
        assert!(seen[0]
            .header("user-agent")
            .is_some_and(|u| u.starts_with("cutover/")));
        assert_eq!(seen[0].header("referer"), None);
        assert_eq!(
            seen[0].json(),
            serde_json::json!({
                "text": "FIRING 503 spike on gateway",
                "cutover": { "alert": "spike_503", "state": "firing", "target": "gateway" },
            })
        );
        assert!(logged.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn two_500s_then_a_200_deliver_on_the_third_attempt() {
        let r = receiver(vec![
            Answer::Status(500, "oops"),
            Answer::Status(500, "oops"),
        ])
        .await;
        let (settings, logged) = quick();
        let hook = start(r.url("/hook"), settings);
        hook.send(notice("x"));
        hook.flush().await;
        assert_eq!(hook.stats(), stats(1, 0, 0));
        assert_eq!(r.seen().len(), 3);
        assert!(r.seen().iter().all(|s| s.body == r.seen()[0].body));
        assert!(logged.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn a_4xx_is_not_retried_and_its_reason_is_logged() {
        let r = receiver(vec![Answer::Status(400, "invalid_payload")]).await;
        let (settings, logged) = quick();
        let hook = start(r.url("/hook"), settings);
        hook.send(notice("x"));
        hook.flush().await;
        assert_eq!(hook.stats(), stats(0, 1, 0));
        assert_eq!(r.seen().len(), 1);
        assert_eq!(
            logged.lock().expect("lock").as_slice(),
            [format!(
                "the alert webhook at http://{} did not take a notice after 1 attempt: it answered 400 Bad Request (`invalid_payload`); the watch goes on.",
                r.addr
            )]
        );
    }

    #[tokio::test]
    async fn a_webhook_that_is_down_counts_a_failure_without_holding_anything_up() {
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let url =
            Url::parse(&format!("http://{refused}/services/T01/B02/SECRETSECRET")).expect("url");
        let (settings, logged) = quick();
        let started = std::time::Instant::now();
        let hook = start(url, settings);
        hook.send(notice("x"));
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "send queues only"
        );
        tokio::time::timeout(Duration::from_secs(5), hook.flush())
            .await
            .expect("flush is bounded");
        assert_eq!(hook.stats(), stats(0, 1, 0));
        let logged = logged.lock().expect("lock");
        assert_eq!(logged.len(), 1);
        let line = &logged[0];
        assert!(
            line.starts_with(&format!(
                "the alert webhook at http://{refused} did not take a notice after 4 attempts: it could not be reached ("
            )),
            "{line}"
        );
        assert!(
            !line.contains("SECRET") && !line.contains("/services"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_times_out_on_each_attempt() {
        let r = receiver(vec![Answer::Hang; 4]).await;
        let (mut settings, logged) = quick();
        settings.timeout = Duration::from_millis(200);
        let hook = start(r.url("/hook"), settings);
        hook.send(notice("x"));
        hook.flush().await;
        assert_eq!(hook.stats(), stats(0, 1, 0));
        assert_eq!(r.seen().len(), 4);
        let logged = logged.lock().expect("lock");
        assert!(
            logged[0]
                .ends_with("after 4 attempts: it did not answer within 200ms; the watch goes on."),
            "{}",
            logged[0]
        );
    }

    #[tokio::test]
    async fn a_secret_path_and_query_never_appear_in_what_is_logged() {
        // The receiver echoes the request's path and query in its 500s.
        let r = receiver(vec![Answer::Echo(500); 4]).await;
        let url = r.url("/services/T0001/B0002/SECRETSECRET?sig=QUERYSECRET&sv=1.0");
        let (settings, logged) = quick();
        let hook = start(url.clone(), settings);
        hook.send(notice("x"));
        hook.flush().await;
        assert_eq!(hook.stats(), stats(0, 1, 0));
        let logged = logged.lock().expect("lock");
        assert_eq!(logged.len(), 1);
        assert!(
            logged[0].contains(&format!("http://{}", r.addr)),
            "{}",
            logged[0]
        );
        assert!(
            logged[0].contains("500 Internal Server Error"),
            "{}",
            logged[0]
        );
        for secret in ["SECRETSECRET", "QUERYSECRET", "/services", "T0001"] {
            assert!(!logged[0].contains(secret), "{secret} in {}", logged[0]);
        }
    }

    #[test]
    fn a_message_naming_the_whole_url_is_scrubbed_of_its_secrets() {
        let url = Url::parse(
            "https://user:hunter22@hooks.slack.com/services/T0001/B0002/SECRETSECRET?sig=QUERYSECRET",
        )
        .expect("url");
        let failure = Failure::Request(format!("error sending request for url ({url})"));
        let line = scrub(&failure_message(&origin(&url), &failure, 1), &url);
        assert_eq!(origin(&url), "https://hooks.slack.com");
        for secret in [
            "SECRETSECRET",
            "QUERYSECRET",
            "hunter22",
            "user",
            "/services",
        ] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
        assert!(line.starts_with("the alert webhook at https://hooks.slack.com did not take"));
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_notices() {
        let r = receiver(vec![]).await;
        let (mut settings, _) = quick();
        settings.queue = 2;
        let hook = start(r.url("/hook"), settings);
        // On this single-threaded runtime the task has not run yet: all
        // five wait in the queue of two.
        for n in 1..=5 {
            hook.send(notice(&n.to_string()));
        }
        assert_eq!(
            hook.stats(),
            WebhookStats {
                pending: 2,
                ..stats(0, 0, 3)
            }
        );
        hook.flush().await;
        assert_eq!(hook.stats(), stats(2, 0, 3));
        let texts: Vec<serde_json::Value> =
            r.seen().iter().map(|s| s.json()["text"].clone()).collect();
        assert_eq!(texts, ["4", "5"]);
    }

    #[tokio::test]
    async fn a_redirect_to_another_host_is_not_followed() {
        let elsewhere = receiver(vec![]).await;
        let to = format!("http://localhost:{}/stolen", elsewhere.addr.port());
        let r = receiver(vec![Answer::Redirect(307, to)]).await;
        let (settings, logged) = quick();
        let hook = start(r.url("/hook"), settings);
        hook.send(notice("x"));
        hook.flush().await;
        assert_eq!(hook.stats(), stats(0, 1, 0));
        assert!(elsewhere.seen().is_empty());
        let logged = logged.lock().expect("lock");
        assert!(
            logged[0].contains("after 1 attempt: it answered 307 Temporary Redirect, a redirect a webhook does not follow"),
            "{}",
            logged[0]
        );
    }

    #[tokio::test]
    async fn a_redirect_on_the_same_host_is_followed_with_the_body() {
        let r = receiver(vec![Answer::Redirect(308, "/moved".into())]).await;
        let (settings, _) = quick();
        let hook = start(r.url("/hook"), settings);
        hook.send(notice("x"));
        hook.flush().await;
        assert_eq!(hook.stats(), stats(1, 0, 0));
        let seen = r.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            (seen[1].method.as_str(), seen[1].target.as_str()),
            ("POST", "/moved")
        );
        assert_eq!(seen[1].body, seen[0].body);
    }

    #[tokio::test]
    async fn stop_ends_the_task_after_delivering_what_was_queued() {
        let r = receiver(vec![]).await;
        let (settings, _) = quick();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let hook = Webhook::start_with(r.url("/hook"), rx, settings);
        hook.send(notice("the watch ended"));
        tx.send(true).expect("the task listens");
        hook.flush().await;
        assert_eq!(hook.stats(), stats(1, 0, 0));
        for _ in 0..100 {
            if hook.shared.state().closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(hook.shared.state().closed, "the task ended");
        hook.send(notice("too late"));
        assert_eq!(hook.stats(), stats(1, 0, 1));
        hook.flush().await; // returns at once: nothing pending
        assert_eq!(r.seen().len(), 1);
    }

    #[tokio::test]
    async fn flush_gives_up_after_its_limit_and_says_what_is_left() {
        let r = receiver(vec![Answer::Hang]).await;
        let (mut settings, logged) = quick();
        settings.timeout = Duration::from_secs(30);
        settings.flush_limit = Duration::from_millis(200);
        let hook = start(r.url("/hook"), settings);
        hook.send(notice("x"));
        hook.send(notice("y"));
        let started = std::time::Instant::now();
        hook.flush().await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(hook.stats().pending, 2);
        assert_eq!(
            logged.lock().expect("lock").as_slice(),
            [format!(
                "2 notices to the alert webhook at http://{} were still undelivered after waiting 200ms at the end.",
                r.addr
            )]
        );
    }

    #[test]
    fn the_production_client_builds_with_tls_and_proxies_from_the_environment() {
        assert!(client(&Settings::default()).is_ok());
    }

    #[test]
    fn receivers_are_told_apart_by_host() {
        let of = |u: &str| Destination::of(&Url::parse(u).expect("url"));
        assert_eq!(
            of("https://hooks.slack.com/services/T/B/X"),
            Destination::Slack
        );
        assert_eq!(
            of("https://prod-186.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x"),
            Destination::TeamsWorkflow
        );
        assert_eq!(
            of("https://default5c07.61.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/abc"),
            Destination::TeamsWorkflow
        );
        assert_eq!(
            of("https://contoso.webhook.office.com/webhookb2/x"),
            Destination::Other
        );
        assert_eq!(of("http://127.0.0.1:9000/hook"), Destination::Other);
    }

    #[test]
    fn slack_text_is_one_line_with_its_control_characters_escaped() {
        let n = Notice {
            text: "p99 > 1.2× & <!channel>\nsecond line".into(),
            fields: serde_json::json!({}),
        };
        assert_eq!(
            body(Destination::Slack, &n)["text"],
            "p99 &gt; 1.2× &amp; &lt;!channel&gt; second line"
        );
        assert_eq!(
            body(Destination::Other, &n)["text"],
            "p99 > 1.2× & <!channel> second line"
        );
    }

    #[test]
    fn a_teams_workflow_gets_an_adaptive_card_beside_text() {
        let b = body(Destination::TeamsWorkflow, &notice("FIRING 503 spike"));
        assert_eq!(b["text"], "FIRING 503 spike");
        assert_eq!(b["cutover"]["alert"], "spike_503");
        assert_eq!(b["type"], "message");
        let card = &b["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(card["content"]["body"][0]["text"], "FIRING 503 spike");
        assert_eq!(
            body(Destination::Other, &notice("x")).get("attachments"),
            None
        );
    }

    #[test]
    fn retry_after_and_reasons_are_read_defensively() {
        assert_eq!(retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(reason(b"no_service\n"), "no_service");
        assert_eq!(reason(&[b'x'; 500]).chars().count(), 121);
        assert!(Failure::Timeout(TIMEOUT).retry());
        assert!(Failure::Status {
            status: reqwest::StatusCode::TOO_MANY_REQUESTS,
            reason: String::new(),
            retry_after: None
        }
        .retry());
        assert!(!Failure::Status {
            status: reqwest::StatusCode::NOT_FOUND,
            reason: String::new(),
            retry_after: None
        }
        .retry());
    }
}
