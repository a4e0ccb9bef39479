// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The platform's auth service (`auth-url`): connects and publishes are POSTed to it as JSON
//! and its answer decides. Calls run on a few threads of their own, shared by every element of
//! the process, so a slow service holds neither the front door nor any publisher: the
//! connection waits for the answer without a thread (see `server::Deferred`).
//!
//! Fail closed: an error status, an answer that is not the expected JSON, an unreachable
//! service and one slower than `auth-timeout` all refuse. Neither passwords nor answer bodies
//! reach a log.

use std::fmt;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::CAT;

/// Calls in flight at once, process-wide. More wait in the queue.
const WORKERS: usize = 4;
/// Calls waiting for a worker; past this, connects are refused at once rather than queued
/// behind a service that is not keeping up (fail closed, and strangers cannot pile up work).
const QUEUE: usize = 256;
/// The largest answer read: a decision is a few dozen bytes.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// What the element asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Connect,
    Publish,
    PublishStopped,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::Publish => "publish",
            Action::PublishStopped => "publish-stopped",
        }
    }
}

/// One question to the service (no secret in it: the client's password never leaves).
#[derive(Clone)]
pub(super) struct Question {
    pub action: Action,
    pub application: String,
    pub stream_key: Option<String>,
    pub user: Option<String>,
    pub client_address: String,
    pub tc_url: Option<String>,
    pub encoder: Option<String>,
    /// Why a publish stopped.
    pub reason: Option<String>,
}

// The stream key is a secret too: not in logs.
impl fmt::Debug for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Question")
            .field("action", &self.action)
            .field("application", &self.application)
            .field("user", &self.user)
            .field("client_address", &self.client_address)
            .finish_non_exhaustive()
    }
}

impl Question {
    fn to_json(&self) -> Value {
        let mut body = json!({
            "action": self.action.as_str(),
            "application": self.application,
            "stream-key": self.stream_key,
            "user": self.user,
            "client-address": self.client_address,
            "tc-url": self.tc_url,
            "encoder": self.encoder,
        });
        if let Some(reason) = &self.reason {
            body["reason"] = json!(reason);
        }
        body
    }
}

/// The service's answer.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Verdict {
    pub allow: bool,
    /// For a connect with a user: that user's password (the Adobe response is checked
    /// against it).
    pub password: Option<String>,
    /// Why not, shown to the client.
    pub reason: Option<String>,
}

// The password must never reach a log.
impl fmt::Debug for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verdict")
            .field("allow", &self.allow)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("reason", &self.reason)
            .finish()
    }
}

/// Why the service gave no usable answer (each refuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    /// Too many calls waiting already.
    Busy,
    Timeout,
    /// Connection refused, DNS, TLS: the text of the error (no body).
    Unreachable(String),
    Status(u16),
    /// Not the JSON object we expect.
    BadAnswer,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Busy => f.write_str("too many calls waiting"),
            Failure::Timeout => f.write_str("no answer in time"),
            Failure::Unreachable(err) => write!(f, "unreachable: {err}"),
            Failure::Status(code) => write!(f, "answered HTTP {code}"),
            Failure::BadAnswer => f.write_str("answered something that is not a decision"),
        }
    }
}

/// Reads a decision out of the service's JSON: `{"allow": bool, "password": string?,
/// "reason": string?}`. Anything else is no decision.
pub(super) fn parse_verdict(body: &Value) -> Result<Verdict, Failure> {
    let allow = body
        .get("allow")
        .and_then(Value::as_bool)
        .ok_or(Failure::BadAnswer)?;
    let text = |key: &str| -> Result<Option<String>, Failure> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Failure::BadAnswer),
        }
    };
    Ok(Verdict {
        allow,
        password: text("password")?,
        reason: text("reason")?.map(|r| shown_reason(&r)),
    })
}

/// A reason fit to send to a client: one short line.
fn shown_reason(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

type Done = Box<dyn FnOnce(Result<Verdict, Failure>) + Send>;

struct Call {
    url: String,
    timeout: Duration,
    question: Question,
    done: Option<Done>,
}

struct Pool {
    jobs: SyncSender<Call>,
}

static POOL: LazyLock<Pool> = LazyLock::new(|| {
    let (jobs, queue) = sync_channel::<Call>(QUEUE);
    let queue = Arc::new(Mutex::new(queue));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        // Status codes are decisions to read, not transport errors.
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    for n in 0..WORKERS {
        let (queue, agent) = (queue.clone(), agent.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("rtmp-auth-{n}"))
            .spawn(move || work(&queue, &agent));
        if let Err(err) = spawned {
            gst::error!(CAT, "cannot start an auth service thread: {err}");
        }
    }
    Pool { jobs }
});

fn work(queue: &Mutex<Receiver<Call>>, agent: &ureq::Agent) {
    loop {
        let call = {
            let queue = queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.recv()
        };
        let Ok(mut call) = call else {
            return;
        };
        let result = ask(agent, &call);
        match &result {
            Ok(verdict) => gst::debug!(
                CAT,
                "auth service: {} by {} for {}: allow={}",
                call.question.action.as_str(),
                call.question.user.as_deref().unwrap_or("-"),
                call.question.client_address,
                verdict.allow
            ),
            Err(failure) => gst::warning!(
                CAT,
                "auth service {}: {} for {}: {failure}",
                redacted_url(&call.url),
                call.question.action.as_str(),
                call.question.client_address
            ),
        }
        if let Some(done) = call.done.take() {
            done(result);
        }
    }
}

fn ask(agent: &ureq::Agent, call: &Call) -> Result<Verdict, Failure> {
    let response = agent
        .post(&call.url)
        .config()
        .timeout_global(Some(call.timeout))
        .build()
        .send_json(call.question.to_json());
    let mut response = match response {
        Ok(response) => response,
        Err(ureq::Error::Timeout(_)) => return Err(Failure::Timeout),
        Err(err) => return Err(Failure::Unreachable(err.to_string())),
    };
    let status = response.status().as_u16();
    if status != 200 {
        return Err(Failure::Status(status));
    }
    if call.question.action == Action::PublishStopped {
        return Ok(Verdict {
            allow: true,
            password: None,
            reason: None,
        });
    }
    let body: Value = match response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_json()
    {
        Ok(body) => body,
        Err(ureq::Error::Timeout(_)) => return Err(Failure::Timeout),
        Err(_) => return Err(Failure::BadAnswer),
    };
    parse_verdict(&body)
}

/// The URL without its query and user info (either may carry a token).
pub(super) fn redacted_url(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or("");
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let host_and_path = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{host_and_path}")
        }
        None => without_query.to_string(),
    }
}

/// Asks the service at `url`; `done` gets the answer on one of the service threads. Refused at
/// once (through `done`) when too many calls wait already.
pub(super) fn ask_later(url: &str, timeout: Duration, question: Question, done: Done) {
    let call = Call {
        url: url.to_string(),
        timeout,
        question,
        done: Some(done),
    };
    match POOL.jobs.try_send(call) {
        Ok(()) => {}
        Err(TrySendError::Full(mut call) | TrySendError::Disconnected(mut call)) => {
            gst::warning!(
                CAT,
                "auth service {}: {} calls waiting, refusing {} for {}",
                redacted_url(url),
                QUEUE,
                call.question.action.as_str(),
                call.question.client_address
            );
            if let Some(done) = call.done.take() {
                done(Err(Failure::Busy));
            }
        }
    }
}

/// A `publish-stopped` notification to send when a publish ends.
#[derive(Debug, Clone)]
pub(super) struct Notice {
    pub url: String,
    pub timeout: Duration,
    /// The publish's question, sent again with the action and the reason changed.
    pub question: Question,
}

impl Notice {
    /// Sends it (the answer is not waited for, and changes nothing).
    pub fn send(mut self, reason: &str) {
        self.question.action = Action::PublishStopped;
        self.question.reason = Some(reason.to_string());
        ask_later(&self.url, self.timeout, self.question, Box::new(|_| {}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_strictly() {
        let v = parse_verdict(&json!({"allow": true, "password": "pw"})).unwrap();
        assert!(v.allow);
        assert_eq!(v.password.as_deref(), Some("pw"));
        let v = parse_verdict(&json!({"allow": false, "reason": "no\nsuch key"})).unwrap();
        assert!(!v.allow);
        assert_eq!(v.reason.as_deref(), Some("nosuch key"));
        assert_eq!(parse_verdict(&json!({})), Err(Failure::BadAnswer));
        assert_eq!(
            parse_verdict(&json!({"allow": "yes"})),
            Err(Failure::BadAnswer)
        );
        assert_eq!(
            parse_verdict(&json!({"allow": true, "password": 5})),
            Err(Failure::BadAnswer)
        );
        assert_eq!(parse_verdict(&json!([true])), Err(Failure::BadAnswer));
    }

    #[test]
    fn no_password_in_debug_output() {
        let v = Verdict {
            allow: true,
            password: Some("s3cret".into()),
            reason: None,
        };
        assert!(!format!("{v:?}").contains("s3cret"));
    }

    #[test]
    fn urls_are_logged_without_tokens() {
        assert_eq!(
            redacted_url("https://user:tok@auth.example/rtmp?key=abc"),
            "https://auth.example/rtmp"
        );
        assert_eq!(
            redacted_url("http://127.0.0.1:8080/a"),
            "http://127.0.0.1:8080/a"
        );
    }

    #[test]
    fn the_question_is_the_documented_json() {
        let q = Question {
            action: Action::Publish,
            application: "live".into(),
            stream_key: Some("k".into()),
            user: None,
            client_address: "192.0.2.1:5000".into(),
            tc_url: Some("rtmp://h/live".into()),
            encoder: None,
            reason: None,
        };
        assert_eq!(
            q.to_json(),
            json!({"action": "publish", "application": "live", "stream-key": "k", "user": null,
                   "client-address": "192.0.2.1:5000", "tc-url": "rtmp://h/live", "encoder": null})
        );
    }

    /// A real HTTP exchange with a service that answers, one that is slow, and one that is not
    /// there: the answers and the failures arrive through `done`.
    #[test]
    fn asks_a_real_service_and_fails_closed() {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                let asked: Value = serde_json::from_str(&body).unwrap();
                if request.url() == "/slow" {
                    std::thread::sleep(Duration::from_millis(800));
                }
                let answer = if asked["user"] == "alice" {
                    r#"{"allow": true, "password": "pw"}"#
                } else {
                    r#"{"allow": false, "reason": "who?"}"#
                };
                let _ = request.respond(tiny_http::Response::from_string(answer));
            }
        });
        let ask = |path: &str, user: &str, timeout_ms: u64| {
            let (tx, rx) = std::sync::mpsc::channel();
            let question = Question {
                action: Action::Connect,
                application: "live".into(),
                stream_key: None,
                user: Some(user.into()),
                client_address: "192.0.2.1:5000".into(),
                tc_url: None,
                encoder: None,
                reason: None,
            };
            ask_later(
                &format!("http://127.0.0.1:{port}{path}"),
                Duration::from_millis(timeout_ms),
                question,
                Box::new(move |r| tx.send(r).unwrap()),
            );
            rx.recv_timeout(Duration::from_secs(10)).unwrap()
        };
        let alice = ask("/", "alice", 2000).unwrap();
        assert!(alice.allow && alice.password.as_deref() == Some("pw"));
        let bob = ask("/", "bob", 2000).unwrap();
        assert!(!bob.allow && bob.reason.as_deref() == Some("who?"));
        assert_eq!(ask("/slow", "alice", 200), Err(Failure::Timeout));
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap().port();
        drop(closed);
        let (tx, rx) = std::sync::mpsc::channel();
        ask_later(
            &format!("http://127.0.0.1:{dead}/"),
            Duration::from_secs(2),
            Question {
                action: Action::Connect,
                application: "live".into(),
                stream_key: None,
                user: None,
                client_address: "192.0.2.1:5000".into(),
                tc_url: None,
                encoder: None,
                reason: None,
            },
            Box::new(move |r| tx.send(r).unwrap()),
        );
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            Err(Failure::Unreachable(_))
        ));
    }
}
