//! A window that shows the stamped test pattern, repainted at a frame rate: share it (`livestage
//! bot --publish screen=window:ID`) and a viewer reads the stamp back from the decoded share,
//! which measures screen sharing glass to glass (pixels on this screen to the viewer's decoded
//! picture).
//!
//! `cargo run --release -p livestage-media --example stamp_window -- WIDTH HEIGHT FPS SECONDS`
//! on the X server named by `DISPLAY`; prints the window id, then paints until the time is up.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use livestage_media::video::{TestPattern, convert};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{
    ConnectionExt, CreateGCAux, CreateWindowAux, ImageFormat, WindowClass,
};
use x11rb::wrapper::ConnectionExt as _;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn main() {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: WIDTH HEIGHT FPS SECONDS"))
        .collect();
    let [width, height, fps, seconds] = args[..] else {
        panic!("usage: stamp_window WIDTH HEIGHT FPS SECONDS");
    };
    let (width, height) = (width as u16, height as u16);
    let (conn, screen) = x11rb::connect(None).unwrap();
    let root = conn.setup().roots[screen].root;
    let window = conn.generate_id().unwrap();
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        window,
        root,
        0,
        0,
        width,
        height,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new(),
    )
    .unwrap();
    conn.change_property8(
        x11rb::protocol::xproto::PropMode::REPLACE,
        window,
        x11rb::protocol::xproto::AtomEnum::WM_NAME,
        x11rb::protocol::xproto::AtomEnum::STRING,
        b"Livestage stamp",
    )
    .unwrap();
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, window, &CreateGCAux::new()).unwrap();
    conn.map_window(window).unwrap();
    conn.flush().unwrap();
    println!("{window:#x}");
    let pattern = TestPattern::new(u32::from(width), u32::from(height)).unwrap();
    let period = Duration::from_secs_f64(1.0 / fps);
    let start = Instant::now();
    // PutImage requests are limited in size: paint in bands of rows.
    let max_bytes = conn.maximum_request_bytes().saturating_sub(64);
    let row = usize::from(width) * 4;
    let band = (max_bytes / row).max(1);
    for n in 0u64.. {
        if start.elapsed() >= Duration::from_secs_f64(seconds) {
            break;
        }
        let picture = pattern.frame(n, now_us());
        let mut bgra = convert::i420_to_rgba(&picture).into_data();
        for px in bgra.chunks_exact_mut(4) {
            px.swap(0, 2);
        }
        for (i, rows) in bgra.chunks(band * row).enumerate() {
            let y = (i * band) as i16;
            let h = (rows.len() / row) as u16;
            conn.put_image(
                ImageFormat::Z_PIXMAP,
                window,
                gc,
                width,
                h,
                0,
                y,
                0,
                24,
                rows,
            )
            .unwrap();
        }
        conn.flush().unwrap();
        let next = start + period * (n as u32 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}
