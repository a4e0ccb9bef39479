// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The demo, end to end in a real browser: the `serve` example (built by
//! `cargo build --all-targets` or `cargo build --example serve`; this test builds nothing) on
//! free ports, FFmpeg publishing a test clip to it, and headless Chromium (Debian's `chromium`,
//! driven by playwright-core from demo/node_modules) opening the page: it must play the stream
//! (video.currentTime advances more than 2 s, no hls.js fatal error) and show it as LIVE.
//! The screenshot goes to target/demo-screenshot.png. Prerequisites: scripts/deps.sh.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills and reaps its process when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fail(why: &str) -> ! {
    println!("browser test: FAIL: {why}");
    panic!("browser test: FAIL: {why}");
}

fn require(path: &Path, hint: &str) {
    if !path.exists() {
        fail(&format!("{} is missing: {hint}", path.display()));
    }
}

#[test]
fn demo_page_plays_in_headless_chromium() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().unwrap();
    // This test runs from target/<profile>/deps/; the example lives in target/<profile>/examples/.
    let exe = std::env::current_exe().unwrap();
    let serve = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/serve");
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    let ffmpeg_bin = if Path::new("/usr/bin/ffmpeg").exists() {
        "/usr/bin/ffmpeg"
    } else {
        "ffmpeg"
    };
    let script = manifest.join("demo/test/browser.mjs");
    require(
        &serve,
        "build it first: cargo build --example serve (scripts/test.sh builds all targets)",
    );
    require(&chromium, "install Debian's chromium (scripts/deps.sh)");
    require(
        &manifest.join("demo/node_modules/playwright-core"),
        "run npm ci in demo/ (scripts/deps.sh)",
    );
    require(
        &manifest.join("demo/node_modules/hls.js/dist/hls.min.js"),
        "run npm ci in demo/ (scripts/deps.sh)",
    );
    let started = Instant::now();

    // The server, on free ports; it prints the URLs it bound.
    let out = tmp.join(format!("browser-hls-{}", std::process::id()));
    let mut child = Command::new(&serve)
        .args([
            "--port",
            "0",
            "--http-port",
            "0",
            "--app",
            "live",
            "--key",
            "browser",
        ])
        .arg("--out")
        .arg(&out)
        .env("DEMO_DIR", manifest.join("demo"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", serve.display())));
    let stdout = child.stdout.take().unwrap();
    let server = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("serve: {line}");
            let _ = tx.send(line);
        }
    });
    let (mut push_url, mut page_url) = (None, None);
    while push_url.is_none() || page_url.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| fail("the serve example did not print its URLs within 20 s"));
        let url = line.split_whitespace().last().map(str::to_owned);
        if line.starts_with("RTMP push URL:") {
            push_url = url;
        } else if line.starts_with("Demo page:") {
            page_url = url;
        }
    }
    let (push_url, page_url) = (push_url.unwrap(), page_url.unwrap());

    // A 20 s test clip in real time: 1 s GOPs, so hlssink2 cuts a segment every second.
    let ffmpeg = Running(
        Command::new(ffmpeg_bin)
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args([
                "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            ])
            .args([
                "-g", "30", "-c:a", "aac", "-b:a", "96k", "-f", "flv", &push_url,
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| fail(&format!("cannot run {ffmpeg_bin}: {e}"))),
    );

    // The browser part; its output (ending in a PASS/FAIL line) goes straight to the terminal.
    let screenshot = target.join("demo-screenshot.png");
    let mut node = Running(
        Command::new("node")
            .arg(&script)
            .arg(&page_url)
            .arg(&screenshot)
            .env("CHROMIUM", &chromium)
            .env("TIMEOUT_MS", "35000")
            .spawn()
            .unwrap_or_else(|e| fail(&format!("cannot run node: {e}"))),
    );
    let deadline = Instant::now() + Duration::from_secs(50);
    let status = loop {
        if let Some(status) = node.0.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            fail("the browser script did not finish within 50 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop((node, ffmpeg, server));
    let _ = std::fs::remove_dir_all(&out);
    if !status.success() {
        fail(&format!(
            "the page did not play the stream (node exited with {status})"
        ));
    }
    println!(
        "browser test: PASS in {:.1} s; screenshot {}",
        started.elapsed().as_secs_f64(),
        screenshot.display()
    );
}
