// SPDX-License-Identifier: MPL-2.0
//! Runs an ingest pipeline with the plugin linked in (no GST_PLUGIN_PATH needed) and prints the
//! element's bus messages (publish started/stopped, rejections).
//!
//! cargo run --example ingest -- [hls|record|srt|fakesink] [port] [stream-key]
//!   hls:      HLS into ./hls-out (hlssink2)
//!   record:   one MP4 per publish session (eos-on-disconnect), ./recording.mp4
//!   srt:      MPEG-TS over SRT, listening on srt://:8888 for a caller (srtsink mode=listener)
//!   fakesink: just count what arrives

use gst::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    gstrtmpserver::plugin_register_static()?;
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("hls");
    let port = args.get(2).map(String::as_str).unwrap_or("1935");
    let key = args.get(3).map(String::as_str).unwrap_or("demo");
    let src = format!("rtmpserversrc name=src address=127.0.0.1 port={port} stream-key={key}");
    let description = match mode {
        "hls" => {
            std::fs::create_dir_all("hls-out")?;
            format!(
                "{src} src.video_0 ! h264parse ! queue ! hls.video src.audio_0 ! aacparse ! queue ! hls.audio \
                 hlssink2 name=hls target-duration=2 location=hls-out/segment%05d.ts playlist-location=hls-out/playlist.m3u8"
            )
        }
        "record" => format!(
            "{src} eos-on-disconnect=true src.video_0 ! h264parse ! queue ! mux. src.audio_0 ! aacparse ! queue ! mux. \
             mp4mux name=mux ! filesink location=recording.mp4"
        ),
        "srt" => format!(
            "{src} src.video_0 ! h264parse config-interval=-1 ! queue ! mux. src.audio_0 ! aacparse ! queue ! mux. \
             mpegtsmux name=mux alignment=7 ! srtsink uri=srt://:8888 mode=listener wait-for-connection=false"
        ),
        _ => format!("{src} src.video_0 ! fakesink src.audio_0 ! fakesink"),
    };
    let pipeline = gst::parse::launch(&description)?;
    pipeline.set_state(gst::State::Playing)?;
    println!("publish to rtmp://127.0.0.1:{port}/app/{key}  (mode {mode}; Ctrl+C to stop)");
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    println!("{s}");
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                eprintln!("error: {} ({:?})", e.error(), e.debug());
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    Ok(())
}
