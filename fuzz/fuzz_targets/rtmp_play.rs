//! What an inject reads from an RTMP server it plays from: after a real handshake (an
//! `rml_rtmp` server side answers the client's), the bytes a hostile server sends, cut into
//! reads at arbitrary points, go to `rtmp::play::Play::handle_input`; every media body that
//! comes out is read with `flv::parse_video` / `flv::parse_audio`, and AAC configurations
//! with `flv::Asc::parse` and turned into ADTS headers. The input itself is also read as a
//! body and as a configuration.
//!
//! Panics inside `rml_rtmp` itself are known (0.8 trusts an AMF0 command's value count) and
//! are caught by the server; see `tolerate_rml_rtmp_panics`.
//!
//! The RTMP modules are compiled from their source files, as `server_config` does, so the
//! target does not bring in quinn, tokio and the media codecs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

// Top-level, as siblings, as they are in the server's `rtmp` module (`super::flv` resolves).
#[allow(dead_code)]
#[path = "../../server/src/rtmp/flv.rs"]
mod flv;
#[allow(dead_code)]
#[path = "../../server/src/rtmp/play.rs"]
mod play;
#[allow(dead_code)]
#[path = "../../server/src/rtmp/session.rs"]
mod session;
#[allow(dead_code)]
#[path = "../../server/src/rtmp/url.rs"]
mod url;

use flv::{Asc, AudioIn};
use play::{Media, Play};

fn body(body: &[u8]) {
    let _ = flv::parse_video(body);
    if let Ok(AudioIn::AacConfig(config)) = flv::parse_audio(body)
        && let Ok(asc) = Asc::parse(config)
    {
        let header = asc.adts_header(body.len());
        assert_eq!(&header[..2], &[0xff, 0xf1]);
    }
}

/// rml_rtmp 0.8 panics on some malformed messages; the server catches those
/// (`rtmp::session::read_guarded`) and drops the connection. libFuzzer's hook aborts on every
/// panic, so this one lets panics raised inside rml_rtmp unwind to that guard and aborts on
/// any other (ours).
fn tolerate_rml_rtmp_panics() {
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let trace = std::backtrace::Backtrace::force_capture().to_string();
        if !trace.contains("rml_rtmp::") {
            abort(info);
        }
    }));
}

fuzz_target!(init: tolerate_rml_rtmp_panics(), |data: &[u8]| {
    body(data);
    if let Ok(asc) = Asc::parse(data) {
        let _ = asc.adts_header(data.len());
    }
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let url = url::Url::parse("rtmp://127.0.0.1/live/film").expect("a valid URL");
    let mut play = Play::new(url).expect("a session");
    // The server side of the handshake, answered for real, so the input reaches the chunks.
    let mut server = Handshake::new(PeerType::Server);
    let c0c1 = play.poll_transmit();
    let HandshakeProcessResult::InProgress { response_bytes } =
        server.process_bytes(&c0c1).expect("the client's C0+C1 are valid")
    else {
        return;
    };
    if play.handle_input(&response_bytes).is_err() {
        return;
    }
    let c2 = play.poll_transmit();
    let _ = server.process_bytes(&c2);
    let step = usize::from(cut).max(1);
    for chunk in data.chunks(step) {
        match play.handle_input(chunk) {
            Ok(media) => {
                for m in media {
                    match m {
                        Media::Video { body: b, .. } | Media::Audio { body: b, .. } => body(&b),
                    }
                }
            }
            Err(_) => return,
        }
        let _ = play.poll_transmit();
    }
});
