// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! End-to-end authentication (issue 3) with real publishers: FFmpeg's `rtmp://user:pass@...`,
//! GStreamer's rtmp2sink `username`/`password`, port verification through a TCP forwarder,
//! credential rotation while PLAYING, the `authenticate` / `get-password` signals (from Rust and
//! from Python through GObject introspection) and the brute-force brake.

mod common;

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use gst::glib;
use gst::prelude::*;

const USER: &str = "alice";
const PASS: &str = "s3cret";
const KEY: &str = "auth-key-1";
const BOB_PASS: &str = "b0b-pa55";

/// What FFmpeg 5.1 prints for each rejection (libavformat/rtmpproto.c), verified by hand.
const FF_BAD_CREDENTIALS: &str = "Incorrect username/password";
const FF_AUTHFAILED: &str =
    "Server error: [ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed";
const FF_NO_CREDENTIALS: &str = "No credentials set";
const FF_NEED_AUTH: &str =
    "Server error: [ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ";

fn auth_props<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut props = vec![("username", USER), ("password", PASS), ("stream-key", KEY)];
    props.extend_from_slice(extra);
    props
}

/// `rtmp://[userinfo@]host:port/app/key`.
fn url(host: &str, port: u16, userinfo: Option<&str>, key: &str) -> String {
    match userinfo {
        Some(u) => format!("rtmp://{u}@{host}:{port}/app/{key}"),
        None => format!("rtmp://{host}:{port}/app/{key}"),
    }
}

/// Runs one ffmpeg publish as fast as it goes; returns (success, stderr, time taken).
fn ffmpeg_run(clip: &Path, url: &str) -> (bool, String, Duration) {
    let started = Instant::now();
    let (ok, err) = wait_child(ffmpeg_publish(clip, url, false), Duration::from_secs(30));
    (ok, err, started.elapsed())
}

/// Asserts ffmpeg failed and printed every one of `texts`.
fn assert_ffmpeg_failed(what: &str, result: &(bool, String, Duration), texts: &[&str]) {
    let (ok, err, _) = result;
    assert!(!ok, "{what}: ffmpeg succeeded: {err}");
    for text in texts {
        assert!(
            err.contains(text),
            "{what}: ffmpeg did not print {text:?}: {err}"
        );
    }
}

fn assert_ffmpeg_ok(what: &str, result: &(bool, String, Duration)) {
    assert!(result.0, "{what}: ffmpeg failed: {}", result.1);
}

fn rejections(rx: &Receiver) -> Vec<gst::Structure> {
    rx.messages
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.name() == "rtmpserversrc-rejected")
        .cloned()
        .collect()
}

fn rejected_reasons(rx: &Receiver) -> Vec<String> {
    rejections(rx)
        .iter()
        .map(|s| s.get::<String>("reason").unwrap())
        .collect()
}

fn count_messages(rx: &Receiver, name: &str) -> usize {
    rx.messages
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.name() == name)
        .count()
}

/// Waits until `n` publishes have ended (so the next one is not "already being published").
fn wait_publishes_stopped(rx: &Receiver, n: usize) {
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| count_messages(
            r,
            "rtmpserversrc-publish-stopped"
        ) >= n),
        "publish {n} did not stop: {:?}",
        rx.messages.lock().unwrap()
    );
}

/// No bus message (rejections carry descriptions and user names) shows a secret, and the
/// password cannot be read back.
fn assert_no_secrets(rx: &Receiver, secrets: &[&str]) {
    for s in rx.messages.lock().unwrap().iter() {
        let text = s.to_string();
        for secret in secrets {
            assert!(!text.contains(secret), "message shows a secret: {text}");
        }
    }
    let flags = rx.src.find_property("password").unwrap().flags();
    assert!(
        flags.contains(glib::ParamFlags::WRITABLE) && !flags.contains(glib::ParamFlags::READABLE),
        "password must be write-only: {flags:?}"
    );
}

/// Packets of `clip` arrived bit-exact, starting at packet `from_video` / `from_audio` of the pads.
/// Waits (a little) for the packets still queued in the element: publish-stopped is posted when the
/// connection closes, which can be before its last buffers reached the appsinks.
fn assert_clip_at(rx: &Receiver, clip: &Path, from_video: usize, from_audio: usize) {
    let source = probe_packets(clip);
    rx.wait_for(Duration::from_secs(5), |r| {
        r.pad("video_0").packets.len() >= from_video + source["video"].len()
            && r.pad("audio_0").packets.len() >= from_audio + source["audio"].len()
    });
    assert_same_packets(
        "video",
        &source["video"],
        &rx.pad("video_0").packets[from_video.min(rx.pad("video_0").packets.len())..],
    );
    assert_same_packets(
        "audio",
        &source["audio"],
        &rx.pad("audio_0").packets[from_audio.min(rx.pad("audio_0").packets.len())..],
    );
}

// -------------------------------------------------------------------------------------------------

#[test]
fn ffmpeg_url_credentials_publish_and_failures_say_why() {
    let clip = clip_h264_aac(4);
    let rx = Receiver::start(&auth_props(&[("eos-on-disconnect", "true")]));
    let p = rx.port;
    let host = "127.0.0.1";

    let wrong_pass = ffmpeg_run(&clip, &url(host, p, Some("alice:wr0ng"), KEY));
    assert_ffmpeg_failed(
        "wrong password",
        &wrong_pass,
        &[FF_BAD_CREDENTIALS, FF_AUTHFAILED],
    );
    // An unknown user gets exactly the answer of a wrong password (no user enumeration).
    let wrong_user = ffmpeg_run(&clip, &url(host, p, Some("mallory:s3cret"), KEY));
    assert_ffmpeg_failed(
        "unknown user",
        &wrong_user,
        &[FF_BAD_CREDENTIALS, FF_AUTHFAILED],
    );
    let no_creds = ffmpeg_run(&clip, &url(host, p, None, KEY));
    assert_ffmpeg_failed("no userinfo", &no_creds, &[FF_NO_CREDENTIALS, FF_NEED_AUTH]);
    let no_pass = ffmpeg_run(&clip, &url(host, p, Some("alice"), KEY));
    assert_ffmpeg_failed(
        "user without password",
        &no_pass,
        &[FF_NO_CREDENTIALS, FF_NEED_AUTH],
    );

    assert!(
        rx.pad_names().is_empty(),
        "nothing may be output: {:?}",
        rx.pad_names()
    );
    assert!(!rx.has_message("rtmpserversrc-publish-started"));
    let rej = rejections(&rx);
    assert_eq!(
        rejected_reasons(&rx),
        ["auth-failed", "auth-failed"],
        "{rej:?}"
    );
    let users: Vec<String> = rej
        .iter()
        .map(|s| s.get::<String>("user").unwrap())
        .collect();
    assert_eq!(users, ["alice", "mallory"]);
    // The same failures as messages of their own, for applications watching logins.
    let auth_failed: Vec<String> = rx
        .messages
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.name() == "rtmpserversrc-auth-failed")
        .map(|s| s.get::<String>("user").unwrap())
        .collect();
    assert_eq!(auth_failed, ["alice", "mallory"]);
    for s in &rej {
        assert_eq!(
            s.get::<String>("code").unwrap(),
            "NetConnection.Connect.Rejected"
        );
        assert_eq!(
            s.get::<String>("description").unwrap(),
            "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed"
        );
        assert!(s
            .get::<String>("client-address")
            .unwrap()
            .starts_with("127.0.0.1:"));
    }

    let good = ffmpeg_run(&clip, &url(host, p, Some("alice:s3cret"), KEY));
    assert_ffmpeg_ok("right credentials", &good);
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.has_message("eos")),
        "no EOS"
    );
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
    assert_eq!(rx.pad_names(), ["audio_0", "video_0"]);
    assert_clip_at(&rx, &clip, 0, 0);
    assert_eq!(
        rejected_reasons(&rx).len(),
        2,
        "the good publish posted no rejection"
    );
    assert_no_secrets(&rx, &[PASS]);
}

// -------------------------------------------------------------------------------------------------

#[test]
fn rtmp2sink_username_password_authmod_auto_and_adobe() {
    for authmod in ["auto", "adobe"] {
        let rx = Receiver::start(&auth_props(&[("eos-on-disconnect", "true")]));
        let target = rx.url(&format!("app/{KEY}"));
        let sent = tmp_path(&format!("rtmp2sink-auth-{authmod}-{}.flv", rx.port));

        let (ok, out) = rtmp2sink_publish(
            &target,
            true,
            false,
            &sent,
            &[
                "username=alice",
                "password=wr0ng",
                &format!("authmod={authmod}"),
            ],
        );
        assert!(!ok, "{authmod}, wrong password published: {out}");
        assert!(
            out.contains("authentication failed; wrong credentials?")
                && out.contains("?reason=authfailed"),
            "{authmod}: {out}"
        );
        assert!(rx.pad_names().is_empty(), "{:?}", rx.pad_names());
        assert_eq!(rejected_reasons(&rx), ["auth-failed"]);

        let (ok, out) = rtmp2sink_publish(
            &target,
            true,
            true,
            &sent,
            &[
                "username=alice",
                "password=s3cret",
                &format!("authmod={authmod}"),
            ],
        );
        assert!(ok, "{authmod}: rtmp2sink failed: {out}");
        assert!(
            rx.wait_for(Duration::from_secs(5), |r| r.has_message("eos")),
            "no EOS"
        );
        let source = probe_packets(&sent);
        assert_same_packets("video", &source["video"], &rx.pad("video_0").packets);
        assert_same_packets("audio", &source["audio"], &rx.pad("audio_0").packets);
        assert_eq!(rejected_reasons(&rx), ["auth-failed"]);
        assert_no_secrets(&rx, &[PASS]);
    }

    // A client that does not try to authenticate is told authentication is needed.
    let rx = Receiver::start(&auth_props(&[]));
    let sent = tmp_path(&format!("rtmp2sink-auth-none-{}.flv", rx.port));
    let (ok, out) = rtmp2sink_publish(
        &rx.url(&format!("app/{KEY}")),
        true,
        false,
        &sent,
        &["username=alice", "password=s3cret", "authmod=none"],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("code=403 need auth; authmod=adobe"), "{out}");
    assert!(rx.pad_names().is_empty());
}

// -------------------------------------------------------------------------------------------------

/// A TCP port forwarder: connections to `port` are piped both ways to `target` on 127.0.0.1, so the
/// client's tcUrl names `port` while the element sees a connection on its own port.
struct Forwarder {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Forwarder {
    fn start(target: u16) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_accept = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop_accept.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Forwarder { port, stop }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[test]
fn port_verification_through_a_forwarder() {
    let clip = clip_h264_aac(4);
    let rx = Receiver::start(&auth_props(&[]));
    let fwd = Forwarder::start(rx.port);
    assert_ne!(fwd.port, rx.port);
    let creds = Some("alice:s3cret");
    let via_fwd = url("127.0.0.1", fwd.port, creds, KEY);
    let direct = url("127.0.0.1", rx.port, creds, KEY);

    // The forwarder works (a connect gets through it) but the tcUrl names its port.
    let r = ffmpeg_run(&clip, &via_fwd);
    let mismatch = format!(
        "Server error: Connection rejected: port mismatch, tcUrl port {} but this server's public port is {}",
        fwd.port, rx.port
    );
    assert_ffmpeg_failed("via forwarder", &r, &[&mismatch]);
    assert!(rx.pad_names().is_empty());
    let rej = rejections(&rx);
    assert_eq!(rejected_reasons(&rx), ["port-mismatch"], "{rej:?}");
    let description = rej[0].get::<String>("description").unwrap();
    assert!(!description.contains("authmod="), "{description}");

    // public-port = the forwarder's port: accepted through it, and now a direct dial mismatches.
    rx.src.set_property("public-port", u32::from(fwd.port));
    let r = ffmpeg_run(&clip, &via_fwd);
    assert_ffmpeg_ok("via forwarder with public-port", &r);
    wait_publishes_stopped(&rx, 1);
    assert_clip_at(&rx, &clip, 0, 0);
    let r = ffmpeg_run(&clip, &direct);
    let mismatch = format!(
        "port mismatch, tcUrl port {} but this server's public port is {}",
        rx.port, fwd.port
    );
    assert_ffmpeg_failed("direct with public-port", &r, &[&mismatch]);

    // verify-port=false: any port in the tcUrl is fine.
    rx.src.set_property("public-port", 0u32);
    rx.src.set_property("verify-port", false);
    let (video_before, audio_before) = (
        rx.pad("video_0").packets.len(),
        rx.pad("audio_0").packets.len(),
    );
    let r = ffmpeg_run(&clip, &via_fwd);
    assert_ffmpeg_ok("via forwarder without verify-port", &r);
    wait_publishes_stopped(&rx, 2);
    assert_clip_at(&rx, &clip, video_before, audio_before);
    assert_eq!(rejected_reasons(&rx), ["port-mismatch", "port-mismatch"]);
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
}

// -------------------------------------------------------------------------------------------------

#[test]
fn rotation_while_playing_keeps_the_live_stream_and_applies_to_new_connects() {
    const NEW_PASS: &str = "n3w-pa55";
    const NEW_KEY: &str = "auth-key-2";
    let live_clip = clip_h264_aac(10);
    let short = clip_h264_aac(4);
    let rx = Receiver::start(&auth_props(&[]));
    let p = rx.port;
    let h = "127.0.0.1";
    let live = ffmpeg_publish(&live_clip, &url(h, p, Some("alice:s3cret"), KEY), true);
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("video_0").packets.len()
            > 30),
        "the live publish did not start"
    );

    rx.src.set_property("password", NEW_PASS);
    rx.src.set_property("stream-key", NEW_KEY);

    // Old password: refused at authentication.
    let r = ffmpeg_run(&short, &url(h, p, Some("alice:s3cret"), NEW_KEY));
    assert_ffmpeg_failed("old password", &r, &[FF_BAD_CREDENTIALS, FF_AUTHFAILED]);
    // New password, old key: past authentication, refused at publish for the key.
    let r = ffmpeg_run(&short, &url(h, p, Some(&format!("alice:{NEW_PASS}")), KEY));
    assert_ffmpeg_failed(
        "new password, old key",
        &r,
        &["Server error: stream key rejected"],
    );
    // New password and key: past both, refused only because the stream is live.
    let r = ffmpeg_run(
        &short,
        &url(h, p, Some(&format!("alice:{NEW_PASS}")), NEW_KEY),
    );
    assert_ffmpeg_failed(
        "new password and key while live",
        &r,
        &["Server error: this stream is already being published"],
    );
    assert_eq!(
        rejected_reasons(&rx),
        ["auth-failed", "bad-stream-key", "already-publishing"]
    );
    let users: Vec<Option<String>> = rejections(&rx)
        .iter()
        .map(|s| s.get::<String>("user").ok())
        .collect();
    assert!(
        users.iter().all(|u| u.as_deref() == Some("alice")),
        "{users:?}"
    );

    let (ok, err) = wait_child(live, Duration::from_secs(30));
    assert!(ok, "the live publish failed after the rotation: {err}");
    wait_publishes_stopped(&rx, 1);
    assert_eq!(count_messages(&rx, "rtmpserversrc-publish-started"), 1);
    // Every frame of the live stream, and nothing else, came out.
    assert_clip_at(&rx, &live_clip, 0, 0);
    assert_eq!(
        rx.pad("video_0").discont_count,
        1,
        "one session, no interruption"
    );
    let (v, a) = (
        rx.pad("video_0").packets.len(),
        rx.pad("audio_0").packets.len(),
    );

    // Once it ended, the new credentials publish, and the old ones still do not.
    let r = ffmpeg_run(&short, &url(h, p, Some("alice:s3cret"), NEW_KEY));
    assert_ffmpeg_failed("old password after", &r, &[FF_BAD_CREDENTIALS]);
    let r = ffmpeg_run(
        &short,
        &url(h, p, Some(&format!("alice:{NEW_PASS}")), NEW_KEY),
    );
    assert_ffmpeg_ok("new credentials", &r);
    wait_publishes_stopped(&rx, 2);
    assert_clip_at(&rx, &short, v, a);
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
    assert_no_secrets(&rx, &[PASS, NEW_PASS]);
}

// -------------------------------------------------------------------------------------------------

type AuthCall = (String, String, String, String, String);

#[test]
fn authenticate_and_get_password_signals_from_rust() {
    let clip = clip_h264_aac(4);
    // Any stream key: the application decides who publishes what.
    let rx = Receiver::start(&[("username", USER), ("password", PASS)]);
    let p = rx.port;
    let h = "127.0.0.1";

    let auth_calls: Arc<Mutex<Vec<AuthCall>>> = Default::default();
    let calls = auth_calls.clone();
    rx.src.connect("authenticate", false, move |args| {
        let s = |i: usize| args[i].get::<String>().unwrap();
        let (app, key, user, addr, tc_url) = (s(1), s(2), s(3), s(4), s(5));
        let allowed = key != "forbidden" && (user != "bob" || key == "bobs-key");
        calls.lock().unwrap().push((app, key, user, addr, tc_url));
        Some(allowed.to_value())
    });
    let password_calls: Arc<Mutex<Vec<(String, String)>>> = Default::default();
    let calls = password_calls.clone();
    rx.src.connect("get-password", false, move |args| {
        let user = args[1].get::<String>().unwrap();
        let addr = args[2].get::<String>().unwrap();
        let password = (user == "bob").then(|| BOB_PASS.to_string());
        calls.lock().unwrap().push((user, addr));
        Some(password.to_value())
    });

    let alice = Some("alice:s3cret");
    let bob = format!("bob:{BOB_PASS}");
    let r = ffmpeg_run(&clip, &url(h, p, alice, "forbidden"));
    assert_ffmpeg_failed("refused key", &r, &["Server error: publish refused"]);
    let r = ffmpeg_run(&clip, &url(h, p, Some(&bob), "alices-key"));
    assert_ffmpeg_failed("bob on alice's key", &r, &["Server error: publish refused"]);
    let r = ffmpeg_run(&clip, &url(h, p, Some("bob:wr0ng"), "bobs-key"));
    assert_ffmpeg_failed("bob, wrong password", &r, &[FF_BAD_CREDENTIALS]);
    let r = ffmpeg_run(&clip, &url(h, p, Some("carol:whatever"), "bobs-key"));
    assert_ffmpeg_failed("unknown to the handler", &r, &[FF_BAD_CREDENTIALS]);
    assert!(rx.pad_names().is_empty(), "{:?}", rx.pad_names());

    // bob's password comes from the handler; alice's from the properties.
    let r = ffmpeg_run(&clip, &url(h, p, Some(&bob), "bobs-key"));
    assert_ffmpeg_ok("bob through get-password", &r);
    wait_publishes_stopped(&rx, 1);
    assert_clip_at(&rx, &clip, 0, 0);
    let (v, a) = (
        rx.pad("video_0").packets.len(),
        rx.pad("audio_0").packets.len(),
    );
    let r = ffmpeg_run(&clip, &url(h, p, alice, "alices-key"));
    assert_ffmpeg_ok("alice", &r);
    wait_publishes_stopped(&rx, 2);
    assert_clip_at(&rx, &clip, v, a);

    let tc_url = format!("rtmp://127.0.0.1:{p}/app");
    let calls = auth_calls.lock().unwrap().clone();
    let summary: Vec<(&str, &str, &str, &str)> = calls
        .iter()
        .map(|(app, key, user, _, tc)| (app.as_str(), key.as_str(), user.as_str(), tc.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("app", "forbidden", "alice", tc_url.as_str()),
            ("app", "alices-key", "bob", tc_url.as_str()),
            ("app", "bobs-key", "bob", tc_url.as_str()),
            ("app", "alices-key", "alice", tc_url.as_str()),
        ]
    );
    assert!(
        calls.iter().all(|c| c.3.starts_with("127.0.0.1:")),
        "{calls:?}"
    );
    let asked = password_calls.lock().unwrap().clone();
    assert!(asked.iter().any(|(u, _)| u == "bob") && asked.iter().any(|(u, _)| u == "carol"));
    assert!(
        asked.iter().all(|(_, a)| a.starts_with("127.0.0.1:")),
        "{asked:?}"
    );

    let rej = rejections(&rx);
    let got: Vec<(String, Option<String>)> = rej
        .iter()
        .map(|s| {
            (
                s.get::<String>("reason").unwrap(),
                s.get::<String>("user").ok(),
            )
        })
        .collect();
    let want: Vec<(String, Option<String>)> = [
        ("refused-by-application", Some("alice")),
        ("refused-by-application", Some("bob")),
        ("auth-failed", Some("bob")),
        ("auth-failed", Some("carol")),
    ]
    .iter()
    .map(|(r, u)| (r.to_string(), u.map(str::to_string)))
    .collect();
    assert_eq!(got, want);
    assert_eq!(
        rej[0].get::<String>("code").unwrap(),
        "NetStream.Publish.Denied"
    );
    assert_no_secrets(&rx, &[PASS, BOB_PASS]);

    // A get-password handler alone turns authentication on.
    let rx = Receiver::start(&[("stream-key", KEY)]);
    rx.src
        .connect("get-password", false, |_| Some(None::<String>.to_value()));
    let r = ffmpeg_run(&clip, &rx.url(&format!("app/{KEY}")));
    assert_ffmpeg_failed(
        "no credentials, handler connected",
        &r,
        &[FF_NO_CREDENTIALS],
    );
    assert!(rx.pad_names().is_empty());
}

// -------------------------------------------------------------------------------------------------

#[test]
fn brute_force_brake_delays_then_refuses_one_address_only() {
    let live_clip = clip_h264_aac(10);
    let short = clip_h264_aac(4);
    // Dual stack: guesses come from 127.0.0.1, the legitimate publisher below from ::1.
    let rx = Receiver::start(&auth_props(&[("address", "::")]));
    let p = rx.port;
    let v4 = "127.0.0.1";
    let live = ffmpeg_publish(&live_clip, &url(v4, p, Some("alice:s3cret"), KEY), true);
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("video_0").packets.len()
            > 10),
        "the live publish did not start"
    );

    // Three free failures, answered at once.
    for i in 0..3 {
        let r = ffmpeg_run(&short, &url(v4, p, Some("alice:guess"), KEY));
        assert_ffmpeg_failed("guess", &r, &[FF_BAD_CREDENTIALS]);
        // A delayed attempt would take 3 s at least: each of ffmpeg's three connects waits 1 s.
        assert!(r.2 < Duration::from_secs(2), "guess {i} took {:?}", r.2);
        println!("free guess {i}: {:?}", r.2);
    }
    // Seven more at once: each is held back at least the first delay (1 s).
    let guesses: Vec<_> = (0..7)
        .map(|_| {
            let u = url(v4, p, Some("alice:guess"), KEY);
            let clip = short.clone();
            std::thread::spawn(move || ffmpeg_run(&clip, &u))
        })
        .collect();
    for g in guesses {
        let r = g.join().unwrap();
        assert!(!r.0, "a guess got in: {}", r.1);
        assert!(
            r.1.contains(FF_BAD_CREDENTIALS) || r.1.contains("too many failed attempts"),
            "{}",
            r.1
        );
        assert!(
            r.2 >= Duration::from_secs(1),
            "a guess was not delayed: {:?}",
            r.2
        );
        println!(
            "delayed guess: {:?}: {}",
            r.2,
            r.1.lines().next().unwrap_or("")
        );
    }
    // Ten failures: the address is refused, right password or not, without a delay.
    let r = ffmpeg_run(&short, &url(v4, p, Some("alice:s3cret"), KEY));
    assert_ffmpeg_failed(
        "after ten failures",
        &r,
        &["Server error: too many failed attempts from this address; try again later"],
    );
    assert!(r.2 < Duration::from_secs(2), "refusal took {:?}", r.2);
    println!("refused: {:?}", r.2);

    // Meanwhile another address authenticates (it is refused only because the stream is live).
    let v6 = "[::1]";
    let r = ffmpeg_run(&short, &url(v6, p, Some("alice:s3cret"), KEY));
    assert_ffmpeg_failed(
        "::1 while live",
        &r,
        &["Server error: this stream is already being published"],
    );

    // The live publish, from the refused address but authenticated before, lost nothing.
    let (ok, err) = wait_child(live, Duration::from_secs(30));
    assert!(ok, "live publish failed: {err}");
    wait_publishes_stopped(&rx, 1);
    assert_clip_at(&rx, &live_clip, 0, 0);
    let (v, a) = (
        rx.pad("video_0").packets.len(),
        rx.pad("audio_0").packets.len(),
    );
    // And ::1 publishes once it is free.
    let r = ffmpeg_run(&short, &url(v6, p, Some("alice:s3cret"), KEY));
    assert_ffmpeg_ok("::1 after", &r);
    wait_publishes_stopped(&rx, 2);
    assert_clip_at(&rx, &short, v, a);

    let reasons = rejected_reasons(&rx);
    let failed = reasons.iter().filter(|r| *r == "auth-failed").count();
    assert!((3..=10).contains(&failed), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r == "too-many-failures"),
        "{reasons:?}"
    );
    for s in rejections(&rx) {
        let addr = s.get::<String>("client-address").unwrap();
        let reason = s.get::<String>("reason").unwrap();
        if reason == "already-publishing" {
            assert!(addr.starts_with("[::1]:"), "{addr}");
        } else {
            assert!(addr.contains("127.0.0.1"), "{reason} from {addr}");
        }
    }
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
    assert_no_secrets(&rx, &[PASS]);
}

// -------------------------------------------------------------------------------------------------

/// The test binary runs two of the tests above again in a child process with the element's
/// debug log at level 7 written to a file: no password may appear in it.
#[test]
fn debug_log_never_shows_a_password() {
    let log = tmp_path(&format!("auth-debug-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ffmpeg_url_credentials_publish_and_failures_say_why",
            "authenticate_and_get_password_signals_from_rust",
            "--test-threads=1",
        ])
        .env("GST_DEBUG", "rtmpserversrc:7")
        .env("GST_DEBUG_FILE", &log)
        .env("GST_DEBUG_NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 passed"), "{stdout}");
    let mut text = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    // The log is real: it has the rejections and the accepted publishes.
    assert!(
        text.contains("rejected: auth-failed"),
        "no rejection logged"
    );
    assert!(
        text.contains("refused by the application"),
        "no refusal logged"
    );
    assert!(text.contains("accepted"), "no publish logged");
    for secret in [PASS, BOB_PASS] {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
        assert!(lines.is_empty(), "{secret} in the log: {lines:#?}");
    }
    let _ = std::fs::remove_file(&log);
}

// -------------------------------------------------------------------------------------------------

/// The signals from Python through GObject introspection: tests/python/auth_signal.py.
#[test]
fn python_gi_signals() {
    let installed = |pkg: &str| {
        Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", pkg])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
    };
    if !installed("python3-gi") {
        println!("SKIPPED: python3-gi is not installed (scripts/deps.sh installs it)");
        return;
    }
    assert!(
        installed("gir1.2-gstreamer-1.0"),
        "gir1.2-gstreamer-1.0 is missing"
    );
    // The distribution's interpreter, where python3-gi lives (a pyenv python3 may come first).
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .args(["-c", "import gi"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("python3-gi is installed but no python3 imports gi");
    let plugin = built_plugin();
    let clip = clip_h264_aac(4);
    let source = probe_packets(&clip);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/auth_signal.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(&clip)
        .arg(source["video"].len().to_string())
        .arg(source["audio"].len().to_string())
        .env("RTMPSERVER_PLUGIN", &plugin)
        .env("GST_REGISTRY", tmp_path("python-registry.bin"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(text.contains("PASS"), "{text}");
}
