// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! An encoder lab: listens for publishers, shows each one live (a table refreshed once a
//! second from the element's `stats`: bitrate, frame rate, GOP, keyframe interval, A/V skew,
//! anomalies), and when the publisher leaves (or on Ctrl+C) prints the report's verdict, one
//! line per finding, and writes the whole report as JSON (lab-report-N.json).
//!
//! cargo run --example lab -- [port] [application] [stream-key]
//!   defaults: 1935, app, and an empty key (any key is accepted)
//!
//! Everything shown comes from the element's publish report (`stats` publisher/report while
//! live, the `rtmpserversrc-publish-report` message at the end, `get-publish-report` on
//! Ctrl+C): the example computes nothing of its own.

#[path = "serve/json.rs"]
mod json;

use std::cell::{Cell, RefCell};
use std::io::{IsTerminal, Write};
use std::rc::Rc;

use gst::prelude::*;

/// A field of a structure as text, or "-" when absent.
fn show<T: for<'a> gst::glib::value::FromValue<'a> + std::fmt::Display>(
    s: &gst::StructureRef,
    field: &str,
) -> String {
    s.get::<T>(field)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| "-".into())
}

fn fixed(s: &gst::StructureRef, field: &str, scale: f64, decimals: usize) -> String {
    s.get::<f64>(field)
        .map(|v| format!("{:.*}", decimals, v * scale))
        .unwrap_or_else(|_| "-".into())
}

/// The report's per-track lines and its summary, as a table.
fn table(publisher: &gst::StructureRef, report: &gst::StructureRef) -> Vec<String> {
    let connection = report.get::<gst::Structure>("connection").ok();
    let handshake = connection
        .as_ref()
        .map(|c| show::<String>(c, "handshake"))
        .unwrap_or_default();
    let mut lines = vec![
        format!(
            "{}  {}  {} s  {} handshake  {} kbit/s now",
            show::<String>(publisher, "client-address"),
            show::<String>(publisher, "encoder"),
            fixed(publisher, "duration", 1.0, 0),
            handshake,
            publisher
                .get::<u64>("bitrate")
                .map(|b| (b / 1000).to_string())
                .unwrap_or_default(),
        ),
        format!(
            "{:<8} {:<14} {:>9} {:>7} {:>16} {:>14} {:>3} {:>9}",
            "pad", "codec", "kbit/s", "fps", "GOP min/avg/max", "keyint ms", "B", "anomalies"
        ),
    ];
    let tracks = report.get::<gst::Array>("tracks").unwrap_or_default();
    for t in tracks.iter().filter_map(|v| v.get::<gst::Structure>().ok()) {
        let video = t.get::<&str>("kind") == Ok("video");
        let anomalies: u64 = [
            "dts-backwards",
            "pts-before-dts",
            "gaps",
            "sequence-header-changes",
        ]
        .into_iter()
        .filter_map(|f| t.get::<u64>(f).ok())
        .sum();
        let gop = if video && t.has_field("gop-mean") {
            format!(
                "{}/{}/{}",
                fixed(&t, "gop-min", 1.0, 0),
                fixed(&t, "gop-mean", 1.0, 1),
                fixed(&t, "gop-max", 1.0, 0)
            )
        } else {
            "-".into()
        };
        let keyint = if video && t.has_field("keyframe-interval-mean") {
            format!(
                "{}±{}",
                fixed(&t, "keyframe-interval-mean", 1.0, 0),
                fixed(&t, "keyframe-interval-stddev", 1.0, 0)
            )
        } else {
            "-".into()
        };
        let b_frames = match t.get::<bool>("b-frames") {
            Ok(true) => "yes",
            Ok(false) => "no",
            Err(_) => "-",
        };
        let codec = show::<String>(&t, "codec-name");
        lines.push(format!(
            "{:<8} {:<14} {:>9} {:>7} {:>16} {:>14} {:>3} {:>9}",
            show::<String>(&t, "pad"),
            codec,
            fixed(&t, "bitrate", 1e-3, 0),
            fixed(&t, "frame-rate", 1.0, 2),
            gop,
            keyint,
            b_frames,
            anomalies,
        ));
    }
    lines.push(format!(
        "A/V skew max {} ms, p95 {} ms   timestamp jumps {}   anomalies {}   tolerated {}   verdict {}",
        show::<u64>(report, "av-skew-max-ms"),
        show::<u64>(report, "av-skew-p95-ms"),
        show::<u64>(report, "timestamp-jumps"),
        show::<u64>(report, "anomaly-count"),
        show::<u64>(report, "deviation-count"),
        show::<String>(report, "verdict"),
    ));
    lines
}

/// Redraws the live table in place on a terminal; elsewhere (a pipe, a log) appends it.
struct Screen {
    tty: bool,
    drawn: Cell<usize>,
}

impl Screen {
    fn draw(&self, lines: &[String]) {
        let mut out = std::io::stdout().lock();
        if self.tty && self.drawn.get() > 0 {
            let _ = write!(out, "\x1b[{}A\x1b[J", self.drawn.get());
        } else if !self.tty {
            let _ = writeln!(out);
        }
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        self.drawn.set(lines.len());
    }

    /// What follows is not part of the table: the next table starts below it.
    fn release(&self) {
        self.drawn.set(0);
    }
}

/// Prints the verdict and writes the report as JSON; returns the file's name.
fn conclude(report: &gst::StructureRef, n: u32, why: &str) -> std::io::Result<String> {
    let warnings: Vec<String> = report
        .get::<gst::Array>("warnings")
        .unwrap_or_default()
        .iter()
        .filter_map(|w| w.get::<String>().ok())
        .collect();
    println!("\npublish ended ({why})");
    if warnings.is_empty() {
        println!("verdict: OK");
    } else {
        println!("verdict: {} warning(s)", warnings.len());
        for w in &warnings {
            println!("  WARNING {w}");
        }
    }
    let file = format!("lab-report-{n}.json");
    let text =
        serde_json::to_string_pretty(&json::structure(report)).map_err(std::io::Error::other)?;
    std::fs::write(&file, text + "\n")?;
    println!("report written to {file}\n");
    Ok(file)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    gstrtmpserver::plugin_register_static()?;
    let args: Vec<String> = std::env::args().collect();
    let port: u32 = args.get(1).map(|p| p.parse()).transpose()?.unwrap_or(1935);
    let app = args.get(2).cloned().unwrap_or_else(|| "app".into());
    let key = args.get(3).cloned().unwrap_or_default();

    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtmpserversrc")
        .property("port", port)
        .property("application", &app)
        .property("stream-key", &key)
        .build()?;
    pipeline.add(&src)?;
    // Each track into a fakesink: the lab looks at what arrives, not at the pictures.
    let weak = pipeline.downgrade();
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let Ok(sink) = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
        else {
            return;
        };
        if pipeline.add(&sink).is_ok() {
            let _ = pad.link(&sink.static_pad("sink").expect("fakesink has a sink pad"));
            let _ = sink.sync_state_with_parent();
        }
    });
    pipeline.set_state(gst::State::Playing)?;
    let bound = src.property::<u32>("bound-port");
    let shown_key = if key.is_empty() { "<any key>" } else { &key };
    println!("encoder lab: publish to rtmp://<this host>:{bound}/{app}/{shown_key}  (Ctrl+C ends)");

    let main_loop = gst::glib::MainLoop::new(None, false);
    let screen = Rc::new(Screen {
        tty: std::io::stdout().is_terminal(),
        drawn: Cell::new(0),
    });
    let reports = Rc::new(Cell::new(0u32));
    let failed = Rc::new(RefCell::new(None::<String>));

    let bus = pipeline.bus().ok_or("no bus")?;
    let _watch = {
        let (screen, reports, failed, main_loop) = (
            screen.clone(),
            reports.clone(),
            failed.clone(),
            main_loop.clone(),
        );
        bus.add_watch_local(move |_, msg| {
            match msg.view() {
                gst::MessageView::Element(e) => {
                    let Some(s) = e.structure() else {
                        return gst::glib::ControlFlow::Continue;
                    };
                    if s.name() == "rtmpserversrc-publish-report" {
                        if let Ok(report) = s.get::<gst::Structure>("report") {
                            screen.release();
                            reports.set(reports.get() + 1);
                            let why = s.get::<String>("reason").unwrap_or_default();
                            if let Err(err) = conclude(&report, reports.get(), &why) {
                                eprintln!("cannot write the report: {err}");
                            }
                        }
                    } else if s.name() == "rtmpserversrc-publish-started" {
                        screen.release();
                        println!("\n{} is publishing", show::<String>(s, "client-address"));
                    }
                }
                gst::MessageView::Error(e) => {
                    *failed.borrow_mut() = Some(format!("{} ({:?})", e.error(), e.debug()));
                    main_loop.quit();
                }
                _ => {}
            }
            gst::glib::ControlFlow::Continue
        })?
    };

    // Once a second: the live publisher's report, from `stats`.
    {
        let (screen, src) = (screen.clone(), src.clone());
        gst::glib::timeout_add_seconds_local(1, move || {
            let stats = src.property::<gst::Structure>("stats");
            if let Ok(publisher) = stats.get::<gst::Structure>("publisher") {
                if let Ok(report) = publisher.get::<gst::Structure>("report") {
                    screen.draw(&table(&publisher, &report));
                }
            }
            gst::glib::ControlFlow::Continue
        });
    }

    // Ctrl+C: the live publisher's report as it stands, then stop.
    {
        let (screen, src, reports, main_loop) = (
            screen.clone(),
            src.clone(),
            reports.clone(),
            main_loop.clone(),
        );
        glib_unix::unix_signal_add_local(libc::SIGINT, move || {
            if let Some(report) =
                src.emit_by_name::<Option<gst::Structure>>("get-publish-report", &[])
            {
                screen.release();
                reports.set(reports.get() + 1);
                if let Err(err) = conclude(&report, reports.get(), "interrupted") {
                    eprintln!("cannot write the report: {err}");
                }
            }
            main_loop.quit();
            gst::glib::ControlFlow::Break
        });
    }

    main_loop.run();
    pipeline.set_state(gst::State::Null)?;
    if let Some(err) = failed.take() {
        return Err(err.into());
    }
    Ok(())
}
