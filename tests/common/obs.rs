// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! OBS Studio 29 (Debian 12's `obs-studio`, 29.0.2) as a test publisher, headless.
//!
//! What it takes, found by trial on Debian 12 (scripts/deps.sh installs obs-studio, xvfb, xauth
//! and libgl1-mesa-dri):
//!
//! - An X display from `xvfb-run -a` and OpenGL from Mesa's llvmpipe (`LIBGL_ALWAYS_SOFTWARE=1`;
//!   OBS needs GL 3.3, llvmpipe offers 4.5). No window manager, D-Bus, PulseAudio or VLC is
//!   needed: OBS logs that each is missing and carries on.
//! - A private configuration: `XDG_CONFIG_HOME`, `HOME` (caches) and `XDG_RUNTIME_DIR` point
//!   into the test's own folder, so OBS reads and writes only `<dir>/config/obs-studio` and
//!   nothing global changes.
//! - `obs-studio/global.ini`: `[General] FirstRun=true` (no auto-configuration wizard),
//!   `LastVersion` = 29.0.2 (no "what's new"), `ConfirmOnExit=false` and no warnings before
//!   starting/stopping a stream; `[Basic] Profile, ProfileDir, SceneCollection,
//!   SceneCollectionFile` select ours; `[BasicWindow] PreviewEnabled=false` spares llvmpipe;
//!   `[OBSWebSocket] ServerEnabled=false` (it is off by default, said anyway: no port 4455).
//! - The profile, `basic/profiles/<name>/basic.ini`: simple output mode, x264 CBR 1000 kbps at
//!   640x360, 30 fps, AAC 128 kbps 48 kHz stereo, reconnect on with `RetryDelay` seconds. The
//!   simple mode leaves x264 at its default keyint of 250 frames with a custom server (only the
//!   listed services set `keyint_sec`): `UseAdvanced=true` with `x264Settings=keyint=60
//!   min-keyint=60` gives a keyframe every 2 s (OBS logs "keyint: 60").
//! - `basic/profiles/<name>/service.json`: `{"type":"rtmp_custom","settings":{"server":
//!   "rtmp://127.0.0.1:PORT/APP","key":KEY,"use_auth":true,"username":..,"password":..}}`: OBS's
//!   librtmp fork then answers the Adobe authmod challenge (a new connection for each step).
//! - The scene collection, `basic/scenes/<name>.json`: one scene with a `color_source_v3`. OBS
//!   sends an AAC track anyway (its mixer runs without sources: silence).
//! - `obs --startstreaming --multi --minimize-to-tray --disable-updater --profile <name>
//!   --collection <name>`: streaming starts about a second after launch. (OBS 29.0.2 has no
//!   `--disable-shutdown-check`; it needs none.)
//! - The log is `obs-studio/logs/<date time>.txt` (OBS also prints it to stdout). librtmp's own
//!   lines go there too: a wrong password gives "PublisherAuth, Authentication failed: wrong
//!   password"; a dropped connection "Disconnected from ..." then "Reconnecting in 1.00 seconds".
//! - SIGINT to `obs` quits it cleanly ("Shutting down" in the log, with the output's frame
//!   counts: total, skipped for encoding lag, lagged for rendering); SIGTERM kills it without a
//!   word in the log. `xvfb-run` then stops its Xvfb.
//! - The process group (`xvfb-run`, `Xvfb`, `obs`) takes SIGSTOP and SIGCONT as a whole: that is
//!   how the tests make OBS fall silent until the element's `timeout` drops it. Woken up, OBS
//!   finds the connection closed (a send error), logs "Disconnected", and reconnects after
//!   `RetryDelay`. (OBS 29 knows no Enhanced RTMP reconnect request, so `drain` cannot do it,
//!   and `ss -K` needs root and a kernel with SOCK_DESTROY.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What OBS publishes and where.
#[derive(Debug, Clone)]
pub struct ObsSettings {
    pub port: u16,
    pub application: String,
    pub stream_key: String,
    /// `None`: "Use authentication" unticked.
    pub credentials: Option<(String, String)>,
    /// Seconds before OBS reconnects after losing the connection (`[Output] RetryDelay`).
    pub retry_delay_s: u32,
}

impl ObsSettings {
    pub fn new(port: u16, application: &str, stream_key: &str) -> Self {
        ObsSettings {
            port,
            application: application.into(),
            stream_key: stream_key.into(),
            credentials: None,
            retry_delay_s: 1,
        }
    }

    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }
}

/// The encoder settings of the profile (`basic.ini`), which the tests compare with what OBS
/// sent: frames per second, x264's keyint (frames from keyframe to keyframe), the video
/// bitrate (x264 CBR) and the audio's (AAC), in kbit/s, and the audio's sample rate.
pub const FPS: u32 = 30;
pub const KEYINT: u32 = 60;
pub const VIDEO_KBPS: u32 = 1000;
pub const AUDIO_KBPS: u32 = 128;
pub const SAMPLE_RATE: u32 = 48000;

const PROFILE: &str = "RtmpServerTest";
/// 29.0.2 as OBS stores it: (major << 24) | (minor << 16) | patch.
const OBS_29_0_2: u32 = (29 << 24) | 2;

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes OBS's configuration (global.ini, the profile and the scene collection) under
/// `config_home` (used as `XDG_CONFIG_HOME`).
pub fn write_config(config_home: &Path, s: &ObsSettings) {
    let obs = config_home.join("obs-studio");
    let profile = obs.join("basic/profiles").join(PROFILE);
    let scenes = obs.join("basic/scenes");
    std::fs::create_dir_all(&profile).unwrap();
    std::fs::create_dir_all(&scenes).unwrap();
    std::fs::write(
        obs.join("global.ini"),
        format!(
            "[General]\n\
             FirstRun=true\n\
             LastVersion={OBS_29_0_2}\n\
             EnableAutoUpdates=false\n\
             ConfirmOnExit=false\n\
             WarnBeforeStartingStream=false\n\
             WarnBeforeStoppingStream=false\n\
             \n\
             [Basic]\n\
             Profile={PROFILE}\n\
             ProfileDir={PROFILE}\n\
             SceneCollection={PROFILE}\n\
             SceneCollectionFile={PROFILE}\n\
             ConfigOnNewProfile=false\n\
             \n\
             [BasicWindow]\n\
             PreviewEnabled=false\n\
             SysTrayEnabled=true\n\
             SysTrayWhenStarted=true\n\
             SysTrayMinimizeToTray=true\n\
             \n\
             [OBSWebSocket]\n\
             FirstLoad=false\n\
             ServerEnabled=false\n"
        ),
    )
    .unwrap();
    std::fs::write(
        profile.join("basic.ini"),
        format!(
            "[General]\n\
             Name={PROFILE}\n\
             \n\
             [Video]\n\
             BaseCX=640\n\
             BaseCY=360\n\
             OutputCX=640\n\
             OutputCY=360\n\
             FPSType=0\n\
             FPSCommon={FPS}\n\
             \n\
             [Audio]\n\
             SampleRate={SAMPLE_RATE}\n\
             ChannelSetup=Stereo\n\
             \n\
             [Output]\n\
             Mode=Simple\n\
             Reconnect=true\n\
             RetryDelay={}\n\
             MaxRetries=20\n\
             \n\
             [SimpleOutput]\n\
             StreamEncoder=x264\n\
             VBitrate={VIDEO_KBPS}\n\
             ABitrate={AUDIO_KBPS}\n\
             UseAdvanced=true\n\
             Preset=veryfast\n\
             x264Settings=keyint={KEYINT} min-keyint={KEYINT}\n",
            s.retry_delay_s
        ),
    )
    .unwrap();
    let (use_auth, user, password) = match &s.credentials {
        Some((u, p)) => (true, u.as_str(), p.as_str()),
        None => (false, "", ""),
    };
    std::fs::write(
        profile.join("service.json"),
        format!(
            "{{\"type\":\"rtmp_custom\",\"settings\":{{\"server\":{},\"key\":{},\
             \"use_auth\":{use_auth},\"username\":{},\"password\":{}}}}}\n",
            json_str(&format!("rtmp://127.0.0.1:{}/{}", s.port, s.application)),
            json_str(&s.stream_key),
            json_str(user),
            json_str(password),
        ),
    )
    .unwrap();
    std::fs::write(
        scenes.join(format!("{PROFILE}.json")),
        format!(
            r#"{{
  "name": "{PROFILE}",
  "current_scene": "Scene",
  "current_program_scene": "Scene",
  "scene_order": [{{"name": "Scene"}}],
  "sources": [
    {{"id": "scene", "versioned_id": "scene", "name": "Scene", "enabled": true,
      "settings": {{"id_counter": 1, "items": [{{"name": "Color", "id": 1, "visible": true,
        "locked": false, "pos": {{"x": 0.0, "y": 0.0}}, "scale": {{"x": 1.0, "y": 1.0}},
        "rot": 0.0, "align": 5, "bounds_type": 0}}]}}}},
    {{"id": "color_source", "versioned_id": "color_source_v3", "name": "Color", "enabled": true,
      "settings": {{"color": 4278255360, "width": 640, "height": 360}}}}
  ],
  "groups": [],
  "quick_transitions": [],
  "transitions": [],
  "current_transition": "Fade",
  "transition_duration": 300,
  "preview_locked": false,
  "modules": {{}}
}}
"#
        ),
    )
    .unwrap();
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// OBS streaming headless; stopped (SIGINT, then SIGKILL) on drop.
pub struct Obs {
    /// `xvfb-run`, leader of a process group of its own (with Xvfb and obs).
    child: Child,
    pub dir: PathBuf,
    pub started: Instant,
}

impl Obs {
    /// Writes the configuration into `dir` (emptied first) and starts
    /// `xvfb-run -a obs --startstreaming ...`.
    pub fn start(dir: &Path, settings: &ObsSettings) -> Obs {
        use std::os::unix::process::CommandExt;
        for program in ["obs", "xvfb-run"] {
            assert!(
                in_path(program),
                "{program} is missing: run scripts/deps.sh"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
        let config = dir.join("config");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        // Qt wants a private runtime folder (0700), or falls back to a shared /tmp/runtime-$USER.
        let runtime = dir.join("runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        write_config(&config, settings);
        let out = std::fs::File::create(dir.join("obs-stdout.txt")).unwrap();
        let err = std::fs::File::create(dir.join("obs-stderr.txt")).unwrap();
        let child = Command::new("xvfb-run")
            .arg("-a")
            .args([
                "obs",
                "--startstreaming",
                "--multi",
                "--minimize-to-tray",
                "--disable-updater",
                "--profile",
                PROFILE,
                "--collection",
                PROFILE,
            ])
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("spawn xvfb-run obs");
        Obs {
            child,
            dir: dir.to_path_buf(),
            started: Instant::now(),
        }
    }

    fn pgid(&self) -> i32 {
        self.child.id() as i32
    }

    /// OBS's log (every file of obs-studio/logs, oldest first).
    pub fn log(&self) -> String {
        let logs = self.dir.join("config/obs-studio/logs");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).into_owned())
            .collect()
    }

    /// Waits until OBS's log contains `needle`; fails early if OBS exited.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() > deadline || self.exited() {
                return self.log().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether xvfb-run (and so OBS) has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Everything worth seeing when a test fails: OBS's log and what xvfb-run printed.
    pub fn diagnostics(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!(
            "--- OBS log ---\n{}\n--- xvfb-run stderr ---\n{}",
            self.log(),
            read("obs-stderr.txt")
        )
    }

    fn signal_group(&self, signal: i32) {
        // SAFETY: kill(2) on the process group this Obs created (its leader is our child).
        unsafe {
            libc::kill(-self.pgid(), signal);
        }
    }

    /// Freezes OBS (and its X server): its connection falls silent, as behind a dead network.
    pub fn freeze(&self) {
        self.signal_group(libc::SIGSTOP);
    }

    pub fn thaw(&self) {
        self.signal_group(libc::SIGCONT);
    }

    /// The pid of `obs` in our process group.
    fn obs_pid(&self) -> Option<i32> {
        let pgid = self.pgid();
        std::fs::read_dir("/proc").ok()?.find_map(|e| {
            let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid pgrp ...
            let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            let pgrp: i32 = rest.split_whitespace().nth(2)?.parse().ok()?;
            (comm == "obs" && pgrp == pgid).then_some(pid)
        })
    }

    /// Quits OBS: SIGINT (it shuts down as from its menu, xvfb-run then stops Xvfb), SIGKILL to
    /// the whole group after `grace`. Returns whether it quit within the grace.
    pub fn stop(&mut self, grace: Duration) -> bool {
        if self.exited() {
            return true;
        }
        self.thaw();
        if let Some(pid) = self.obs_pid() {
            // SAFETY: kill(2) on our own grandchild, found in our process group.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
        false
    }
}

impl Drop for Obs {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}
