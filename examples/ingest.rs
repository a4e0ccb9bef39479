// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Runnable ingest pipelines with the plugin linked in (no GST_PLUGIN_PATH needed). Each prints
//! the element's bus messages (publish started/stopped, rejections) as they come.
//!
//! cargo run --example ingest -- MODE [port] [stream-key]
//!   hls       HLS into ./hls-out (hlssink2)
//!   srt       MPEG-TS over SRT, listening on srt://:8888 for a caller (srtsink mode=listener)
//!   ladder    decode, scale and encode three renditions (1080p/720p/360p) into HLS in
//!             ./ladder-out/{1080,720,360}/ with a master playlist ./ladder-out/master.m3u8
//!   record    one MP4 per publish session: recording-1.mp4, recording-2.mp4, ...
//!   multi     two streams on one shared port: keys KEY-1 and KEY-2, HLS in ./multi-out/{1,2}/
//!   fakesink  just count what arrives

use gst::prelude::*;

fn src(port: &str, key: &str, name: &str) -> String {
    format!("rtmpserversrc name={name} address=127.0.0.1 port={port} stream-key={key}")
}

fn hls(name: &str, dir: &str) -> String {
    format!(
        "hlssink2 name={name} target-duration=2 max-files=10 \
         location={dir}/segment%05d.ts playlist-location={dir}/playlist.m3u8"
    )
}

/// The pipeline description of a mode (record is special: see `record_sessions`).
fn description(mode: &str, port: &str, key: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(match mode {
        "hls" => {
            std::fs::create_dir_all("hls-out")?;
            format!(
                "{} src.video_0 ! h264parse ! queue ! hls.video src.audio_0 ! aacparse ! queue ! hls.audio {}",
                src(port, key, "src"),
                hls("hls", "hls-out")
            )
        }
        "srt" => format!(
            "{} src.video_0 ! h264parse config-interval=-1 ! queue ! mux. src.audio_0 ! aacparse ! queue ! mux. \
             mpegtsmux name=mux alignment=7 ! srtsink uri=srt://:8888 mode=listener wait-for-connection=false",
            src(port, key, "src")
        ),
        "ladder" => {
            let mut d = format!(
                "{} src.video_0 ! h264parse ! avdec_h264 ! videoconvert ! tee name=v \
                 src.audio_0 ! aacparse ! tee name=a ",
                src(port, key, "src")
            );
            let mut master = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
            for (height, width, kbps) in [(1080, 1920, 6000), (720, 1280, 3000), (360, 640, 800)] {
                let dir = format!("ladder-out/{height}");
                std::fs::create_dir_all(&dir)?;
                d += &format!(
                    "v. ! queue ! videoscale ! video/x-raw,width={width},height={height} \
                     ! x264enc speed-preset=veryfast tune=zerolatency bitrate={kbps} key-int-max=60 \
                     ! h264parse ! h{height}.video a. ! queue ! h{height}.audio {} ",
                    hls(&format!("h{height}"), &dir)
                );
                master += &format!(
                    "#EXT-X-STREAM-INF:BANDWIDTH={},RESOLUTION={width}x{height}\n{height}/playlist.m3u8\n",
                    (kbps + 128) * 1000
                );
            }
            std::fs::write("ladder-out/master.m3u8", master)?;
            d
        }
        "multi" => {
            let mut d = String::new();
            for n in 1..=2 {
                let dir = format!("multi-out/{n}");
                std::fs::create_dir_all(&dir)?;
                // Same port for both elements: connects are routed by application and key.
                d += &format!(
                    "{} s{n}.video_0 ! h264parse ! queue ! h{n}.video s{n}.audio_0 ! aacparse ! queue ! h{n}.audio {} ",
                    src(port, &format!("{key}-{n}"), &format!("s{n}")),
                    hls(&format!("h{n}"), &dir)
                );
            }
            d
        }
        _ => format!("{} src.video_0 ! fakesink src.audio_0 ! fakesink", src(port, key, "src")),
    })
}

/// Runs a pipeline until EOS or error, printing the element's messages. Returns whether it
/// ended with EOS.
fn run(pipeline: &gst::Element) -> Result<bool, Box<dyn std::error::Error>> {
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut eos = false;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    println!("{s}");
                }
            }
            gst::MessageView::Eos(_) => {
                eos = true;
                break;
            }
            gst::MessageView::Error(e) => {
                eprintln!("error: {} ({:?})", e.error(), e.debug());
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    Ok(eos)
}

/// One MP4 per publish: eos-on-disconnect finalizes the file when the publisher leaves, then a
/// fresh pipeline waits for the next one.
fn record_sessions(port: &str, key: &str) -> Result<(), Box<dyn std::error::Error>> {
    for n in 1.. {
        let file = format!("recording-{n}.mp4");
        let pipeline = gst::parse::launch(&format!(
            "{} eos-on-disconnect=true src.video_0 ! h264parse ! queue ! mux. src.audio_0 ! aacparse ! queue ! mux. \
             mp4mux name=mux ! filesink location={file}",
            src(port, key, "src")
        ))?;
        println!("waiting for a publisher; recording to {file}");
        if !run(&pipeline)? {
            break;
        }
        println!("{file} finalized");
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    gstrtmpserver::plugin_register_static()?;
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("hls");
    let port = args.get(2).map(String::as_str).unwrap_or("1935");
    let key = args.get(3).map(String::as_str).unwrap_or("demo");
    match mode {
        "multi" => println!(
            "publish to rtmp://127.0.0.1:{port}/app/{key}-1 and rtmp://127.0.0.1:{port}/app/{key}-2"
        ),
        _ => {
            println!("publish to rtmp://127.0.0.1:{port}/app/{key}  (mode {mode}; Ctrl+C to stop)")
        }
    }
    if mode == "record" {
        return record_sessions(port, key);
    }
    let pipeline = gst::parse::launch(&description(mode, port, key)?)?;
    run(&pipeline)?;
    Ok(())
}
