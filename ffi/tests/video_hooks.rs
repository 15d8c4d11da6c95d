//! Raw video hooks and custom renderers through the C ABI, against an in-process server: a host
//! engine publishes pushed solid red frames, a viewer engine receives them.
//!
//! - The host's local hook inverts every picture (RGBA) before it is encoded: the viewer's
//!   renderer (I420 planes) and both fetches (`livestage_video_frame_i420` into caller strides,
//!   `livestage_video_frame_track` as RGBA) see cyan, with one `seq` for both formats; removed
//!   with a null callback, it is not called again and the viewer sees red again.
//! - The viewer's remote hook sees the publisher's frame numbers in order. A local hook that
//!   drops every other picture halves what the viewer decodes; a remote hook that drops every
//!   third keeps those from the renderer and the counters.
//! - A remote hook slower than its budget is removed after 5 pictures and reported by a
//!   `video_hook_removed` event naming its track; from then on it is not called.
// Calling a C ABI from Rust takes unsafe blocks; each says why its pointers are valid.
#![allow(unsafe_code, clippy::unwrap_used)]

mod common;

use std::ffi::{CStr, c_void};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{HOST, join_engine, last_error, wait_event};
use livestage_ffi::*;
use livestage_server::{Config, Embedded};

const W: u32 = 160;
const H: u32 = 120;
const RED: [u8; 3] = [220, 30, 30];
/// RED inverted.
const CYAN: [u8; 3] = [35, 225, 225];

/// A host publishing its camera (pushed frames) and a viewer that sees it; the host's media id.
fn stage(server: &Embedded) -> (i64, i64, u64) {
    let host = join_engine(server, "cam", HOST, LIVESTAGE_ROLE_HOST, 2).0;
    let viewer = join_engine(server, "viewer", "join", LIVESTAGE_ROLE_AUDIENCE, 2).0;
    // SAFETY: a literal C string.
    let rc = unsafe { livestage_video_publish(host, c"show".as_ptr(), W, H, 30.0, 0) };
    assert_eq!(rc, 0, "{}", last_error());
    let event = wait_event(viewer, Duration::from_secs(10), |e| {
        e["type"] == "participant"
            && e["participant"]["user"] == "cam"
            && !e["participant"]["tracks"].as_array().unwrap().is_empty()
    });
    let media_id = event["participant"]["media_id"].as_u64().unwrap();
    (host, viewer, media_id)
}

/// Pushes solid red frames to the host's camera at 30 fps until dropped.
struct Pusher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pusher {
    fn start(host: i64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let red = [RED[0], RED[1], RED[2], 255].repeat((W * H) as usize);
                while !stop.load(SeqCst) {
                    // SAFETY: a literal C string; `red` is valid for its length.
                    let rc = unsafe {
                        livestage_video_push(
                            host,
                            c"show".as_ptr(),
                            red.as_ptr(),
                            red.len(),
                            W,
                            H,
                            0,
                        )
                    };
                    assert_eq!(rc, 0, "{}", last_error());
                    std::thread::sleep(Duration::from_millis(33));
                }
            })
        };
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a callback saw; handed to it as `user_data` (leaked: it must outlive the engines).
#[derive(Default)]
struct Seen {
    calls: AtomicU64,
    /// Pictures a hook kept.
    kept: AtomicU64,
    /// Drop every `drop_every`th call (by call count, or by frame number when `by_frame`).
    drop_every: u64,
    by_frame: bool,
    /// Milliseconds to sleep per call.
    delay_ms: u64,
    frames: Mutex<Vec<u64>>,
    last: Mutex<Option<Shown>>,
    /// What a call into the library from inside the callback returned.
    nested: AtomicI32,
}

/// One picture as a callback saw it.
#[derive(Clone, Debug, PartialEq)]
struct Shown {
    size: (u32, u32),
    format: i32,
    point: i32,
    strides: [u32; 4],
    channel: Option<String>,
    media_id: u64,
    track: u8,
    /// The centre pixel as RGB.
    centre: [u8; 3],
}

impl Seen {
    fn leak(seen: Seen) -> &'static Seen {
        Box::leak(Box::new(seen))
    }

    fn user_data(&'static self) -> *mut c_void {
        std::ptr::from_ref(self).cast_mut().cast()
    }

    fn calls(&self) -> u64 {
        self.calls.load(SeqCst)
    }

    fn last(&self) -> Shown {
        self.last.lock().unwrap().clone().expect("called")
    }

    /// Records `frame`; returns 1 to keep it.
    ///
    /// # Safety
    ///
    /// `frame` is what the engine handed a callback.
    unsafe fn record(&self, frame: &LivestageVideoFrame) -> i32 {
        let n = self.calls.fetch_add(1, SeqCst) + 1;
        std::thread::sleep(Duration::from_millis(self.delay_ms));
        // SAFETY: the engine's pointers and strides describe its picture (the caller's contract).
        let centre = unsafe { centre(frame) };
        // SAFETY: null or NUL-terminated, valid during the call.
        let channel = (!frame.channel.is_null()).then(|| {
            unsafe { CStr::from_ptr(frame.channel) }
                .to_str()
                .unwrap()
                .to_owned()
        });
        *self.last.lock().unwrap() = Some(Shown {
            size: (frame.width, frame.height),
            format: frame.format,
            point: frame.point,
            strides: [
                frame.y_stride,
                frame.u_stride,
                frame.v_stride,
                frame.rgba_stride,
            ],
            channel,
            media_id: frame.media_id,
            track: frame.track,
            centre,
        });
        self.frames.lock().unwrap().push(frame.frame);
        let counted = if self.by_frame { frame.frame } else { n };
        let keep = self.drop_every == 0 || counted % self.drop_every != 0;
        if keep {
            self.kept.fetch_add(1, SeqCst);
        }
        i32::from(keep)
    }
}

/// BT.601 limited range to RGB.
fn rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let (y, u, v) = (
        1.164 * (f32::from(y) - 16.0),
        f32::from(u) - 128.0,
        f32::from(v) - 128.0,
    );
    [y + 1.596 * v, y - 0.813 * v - 0.391 * u, y + 2.018 * u].map(|c| c.clamp(0.0, 255.0) as u8)
}

/// The centre pixel of a callback's picture as RGB.
///
/// # Safety
///
/// `frame`'s pointers must be valid for its sizes and strides.
unsafe fn centre(frame: &LivestageVideoFrame) -> [u8; 3] {
    let (x, y) = (frame.width as usize / 2, frame.height as usize / 2);
    // SAFETY (each read): inside the plane the strides describe (the caller's contract).
    unsafe {
        if frame.format == LIVESTAGE_PIXELS_RGBA {
            let p = frame.rgba.add(y * frame.rgba_stride as usize + x * 4);
            return [*p, *p.add(1), *p.add(2)];
        }
        let luma = *frame.y.add(y * frame.y_stride as usize + x);
        let u = *frame.u.add(y / 2 * frame.u_stride as usize + x / 2);
        let v = *frame.v.add(y / 2 * frame.v_stride as usize + x / 2);
        rgb(luma, u, v)
    }
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 24)
}

/// Inverts an RGBA picture; checks it may not change hooks from inside.
unsafe extern "C" fn invert(frame: *mut LivestageVideoFrame, user_data: *mut c_void) -> i32 {
    // SAFETY: `user_data` is a leaked `Seen`; `frame` the engine's, valid for the call.
    let (seen, frame) = unsafe { (&*user_data.cast::<Seen>(), &mut *frame) };
    if seen.calls() == 0 {
        // SAFETY: null callback and strings: a removal, refused from inside a hook.
        let rc = unsafe { livestage_video_renderer(1, null(), null(), 0, 0, None, null_mut()) };
        seen.nested.store(rc, SeqCst);
    }
    // SAFETY: as above.
    unsafe { seen.record(frame) };
    let len = (frame.rgba_stride * frame.height) as usize;
    // SAFETY: an RGBA picture of `height` rows of `rgba_stride` bytes, writable for the call.
    let pixels = unsafe { std::slice::from_raw_parts_mut(frame.rgba, len) };
    for px in pixels.chunks_exact_mut(4) {
        px[..3].iter_mut().for_each(|c| *c = 255 - *c);
    }
    1
}

/// Records a picture; keeps it unless the `Seen` says to drop it.
unsafe extern "C" fn count(frame: *mut LivestageVideoFrame, user_data: *mut c_void) -> i32 {
    // SAFETY: `user_data` is a leaked `Seen`; `frame` the engine's, valid for the call.
    unsafe { (*user_data.cast::<Seen>()).record(&*frame) }
}

/// Records a picture a renderer gets.
unsafe extern "C" fn render(frame: *const LivestageVideoFrame, user_data: *mut c_void) {
    // SAFETY: as in `count`.
    unsafe { (*user_data.cast::<Seen>()).record(&*frame) };
}

/// Waits until `seen` was called `n` times.
fn wait_calls(seen: &Seen, n: u64) {
    let end = Instant::now() + Duration::from_secs(10);
    while seen.calls() < n {
        assert!(Instant::now() < end, "{} calls within 10 s", seen.calls());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that `seen` is not called over the next 400 ms.
fn assert_silent(seen: &Seen, what: &str) {
    let calls = seen.calls();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(seen.calls(), calls, "{what} was called after it went");
}

/// Installs (or with `None` removes) a hook.
fn hook(
    engine: i64,
    point: i32,
    target: Option<(&CStr, &CStr, u8)>,
    format: i32,
    callback: LivestageVideoHookFn,
    seen: Option<&'static Seen>,
) -> i32 {
    let (channel, user, track) =
        target.map_or((null(), null(), 0), |(c, u, t)| (c.as_ptr(), u.as_ptr(), t));
    let user_data = seen.map_or(null_mut(), Seen::user_data);
    // SAFETY: null or literal C strings; the callbacks and their leaked `Seen` live forever.
    unsafe {
        livestage_video_hook(
            engine, point, channel, user, track, format, callback, user_data,
        )
    }
}

/// Installs (or with `None` removes) a renderer.
fn renderer(
    engine: i64,
    target: Option<(&CStr, &CStr, u8)>,
    format: i32,
    callback: LivestageVideoRendererFn,
    seen: Option<&'static Seen>,
) -> i32 {
    let (channel, user, track) =
        target.map_or((null(), null(), 0), |(c, u, t)| (c.as_ptr(), u.as_ptr(), t));
    let user_data = seen.map_or(null_mut(), Seen::user_data);
    // SAFETY: as in `hook`.
    unsafe { livestage_video_renderer(engine, channel, user, track, format, callback, user_data) }
}

/// Fetches the newest picture as I420 into `planes` (Y at `y_stride`, U and V tight).
fn fetch_i420(
    viewer: i64,
    last: u64,
    planes: Option<(&mut [u8], u32, &mut [u8], &mut [u8])>,
) -> (i32, LivestageFrame) {
    let mut out = LivestageFrame::default();
    let planes = planes.map(|(y, y_stride, u, v)| LivestagePlanes {
        y: y.as_mut_ptr(),
        u: u.as_mut_ptr(),
        v: v.as_mut_ptr(),
        y_capacity: y.len(),
        u_capacity: u.len(),
        v_capacity: v.len(),
        y_stride,
        u_stride: 0,
        v_stride: 0,
    });
    let planes = planes.as_ref().map_or(null(), std::ptr::from_ref);
    // SAFETY: literal C strings; the planes are valid for their capacities; `out` is valid.
    let rc = unsafe {
        livestage_video_frame_i420(
            viewer,
            c"show".as_ptr(),
            c"cam".as_ptr(),
            0,
            last,
            0,
            planes,
            &mut out,
        )
    };
    (rc, out)
}

#[test]
fn a_local_hook_inverts_what_a_remote_renderer_and_both_fetches_see() {
    let server = Embedded::start(Config::default()).unwrap();
    let (host, viewer, media_id) = stage(&server);
    let cam = Some((c"show", c"cam", 0));

    // Refused: a local hook for a channel, a format not offered, a user not in the channel.
    let seen = Seen::leak(Seen::default());
    let show = Some((c"show", c"cam", 0));
    assert_eq!(
        hook(
            host,
            LIVESTAGE_VIDEO_LOCAL,
            show,
            1,
            Some(count),
            Some(seen)
        ),
        LIVESTAGE_ERR_ARGUMENT
    );
    assert_eq!(
        hook(
            host,
            LIVESTAGE_VIDEO_LOCAL,
            None,
            2,
            Some(count),
            Some(seen)
        ),
        LIVESTAGE_ERR_ARGUMENT
    );
    let nobody = Some((c"show", c"nobody", 0));
    assert_eq!(
        renderer(viewer, nobody, 0, Some(render), Some(seen)),
        LIVESTAGE_ERR_NOT_FOUND
    );
    assert!(last_error().contains("nobody"), "{}", last_error());

    let local = Seen::leak(Seen::default());
    let rc = hook(
        host,
        LIVESTAGE_VIDEO_LOCAL,
        None,
        LIVESTAGE_PIXELS_RGBA,
        Some(invert),
        Some(local),
    );
    assert_eq!(rc, 0, "{}", last_error());
    let shown = Seen::leak(Seen::default());
    let rc = renderer(
        viewer,
        cam,
        LIVESTAGE_PIXELS_I420,
        Some(render),
        Some(shown),
    );
    assert_eq!(rc, 0, "{}", last_error());
    let pusher = Pusher::start(host);
    wait_calls(shown, 20);

    // The local hook got RGBA of the pushed frames, red, and no channel.
    let before = local.last();
    assert_eq!(
        (
            before.size,
            before.format,
            before.point,
            before.strides[3],
            before.channel.clone()
        ),
        (
            (W, H),
            LIVESTAGE_PIXELS_RGBA,
            LIVESTAGE_VIDEO_LOCAL,
            W * 4,
            None
        )
    );
    assert!(near(before.centre, RED), "{before:?}");
    assert_eq!(
        local.nested.load(SeqCst),
        LIVESTAGE_ERR_STATE,
        "no changes from inside a hook"
    );
    // The viewer's renderer got the decoder's I420 planes, inverted: cyan.
    let after = shown.last();
    let expected = Shown {
        size: (W, H),
        format: LIVESTAGE_PIXELS_I420,
        point: LIVESTAGE_VIDEO_REMOTE,
        strides: [W, W / 2, W / 2, 0],
        channel: Some("show".into()),
        media_id,
        track: 0,
        centre: after.centre,
    };
    assert_eq!(after, expected);
    assert!(
        near(after.centre, CYAN),
        "the viewer sees {:?}",
        after.centre
    );
    eprintln!(
        "video hooks: pushed {:?}, the viewer's renderer saw {:?}",
        before.centre, after.centre
    );

    // The I420 fetch: the size first, then the planes at a stride wider than the picture.
    drop(pusher);
    std::thread::sleep(Duration::from_millis(300));
    let (rc, info) = fetch_i420(viewer, 0, None);
    assert_eq!(rc, LIVESTAGE_ERR_BUFFER_TOO_SMALL);
    assert_eq!(
        (info.width, info.height, info.size),
        (W, H, u64::from(W * H * 3 / 2))
    );
    assert!(info.seq > 0);
    let stride = W + 16;
    let mut y = vec![0xab; (stride * H) as usize];
    let (mut u, mut v) = (vec![0; (W * H / 4) as usize], vec![0; (W * H / 4) as usize]);
    let (rc, _) = fetch_i420(viewer, 0, Some((&mut y[..100], stride, &mut u, &mut v)));
    assert_eq!(rc, LIVESTAGE_ERR_BUFFER_TOO_SMALL, "a Y plane of 100 bytes");
    let (rc, _) = fetch_i420(viewer, 0, Some((&mut y, W - 2, &mut u, &mut v)));
    assert_eq!(
        rc, LIVESTAGE_ERR_ARGUMENT,
        "a stride narrower than the picture"
    );
    let (rc, fetched) = fetch_i420(viewer, 0, Some((&mut y, stride, &mut u, &mut v)));
    assert_eq!((rc, fetched), (1, info), "{}", last_error());
    assert!(
        y.chunks_exact(stride as usize)
            .all(|row| row[W as usize..].iter().all(|&b| b == 0xab))
    );
    let at = |plane: &[u8], stride: u32, x: u32, y: u32| plane[(y * stride + x) as usize];
    let centre = rgb(
        at(&y, stride, W / 2, H / 2),
        at(&u, W / 2, W / 4, H / 4),
        at(&v, W / 2, W / 4, H / 4),
    );
    assert!(near(centre, CYAN), "fetched {centre:?}");
    assert_eq!(
        fetch_i420(viewer, info.seq, Some((&mut y, stride, &mut u, &mut v))).0,
        0,
        "nothing newer"
    );
    // The RGBA fetch counts the same pictures: nothing newer than the I420's seq.
    let mut rgba = vec![0u8; (W * H * 4) as usize];
    let mut out = LivestageFrame::default();
    // SAFETY: literal C strings, `rgba` valid for its length, `out` valid.
    let rc = unsafe {
        livestage_video_frame_track(
            viewer,
            c"show".as_ptr(),
            c"cam".as_ptr(),
            0,
            info.seq,
            0,
            rgba.as_mut_ptr(),
            rgba.len(),
            &mut out,
        )
    };
    assert_eq!((rc, out.seq, out.size), (0, info.seq, u64::from(W * H * 4)));

    // Removed with a null callback: neither is called again, and the viewer sees red again.
    let pusher = Pusher::start(host);
    wait_calls(local, local.calls() + 5);
    assert_eq!(hook(host, LIVESTAGE_VIDEO_LOCAL, None, 0, None, None), 0);
    assert_silent(local, "the local hook");
    wait_calls(shown, shown.calls() + 15);
    assert!(near(shown.last().centre, RED), "{:?}", shown.last());
    assert_eq!(renderer(viewer, cam, 0, None, None), 0);
    assert_silent(shown, "the renderer");
    drop(pusher);
    assert_eq!(livestage_engine_free(viewer), 0);
    assert_eq!(livestage_engine_free(host), 0);
}

#[test]
fn remote_hooks_see_frames_in_order_drop_what_they_refuse_and_go_when_slow() {
    let server = Embedded::start(Config::default()).unwrap();
    let (host, viewer, media_id) = stage(&server);

    // The host drops every other picture before encoding; the viewer's hook (on every track)
    // drops every third frame number, and its renderer gets the rest.
    let local = Seen::leak(Seen {
        drop_every: 2,
        ..Seen::default()
    });
    assert_eq!(
        hook(
            host,
            LIVESTAGE_VIDEO_LOCAL,
            None,
            LIVESTAGE_PIXELS_I420,
            Some(count),
            Some(local)
        ),
        0
    );
    let remote = Seen::leak(Seen {
        drop_every: 3,
        by_frame: true,
        ..Seen::default()
    });
    let rc = hook(
        viewer,
        LIVESTAGE_VIDEO_REMOTE,
        None,
        LIVESTAGE_PIXELS_I420,
        Some(count),
        Some(remote),
    );
    assert_eq!(rc, 0, "{}", last_error());
    let shown = Seen::leak(Seen::default());
    assert_eq!(
        renderer(
            viewer,
            None,
            LIVESTAGE_PIXELS_RGBA,
            Some(render),
            Some(shown)
        ),
        0
    );
    let pusher = Pusher::start(host);
    wait_calls(remote, 30);
    drop(pusher);
    std::thread::sleep(Duration::from_millis(500));

    // In order: the frame numbers count the frames sent, one by one.
    let frames = remote.frames.lock().unwrap().clone();
    assert!(frames.windows(2).all(|w| w[1] > w[0]), "{frames:?}");
    let steps = frames.windows(2).filter(|w| w[1] == w[0] + 1).count();
    assert!(steps + 2 >= frames.len(), "{frames:?}");
    // What the host dropped never reached the viewer.
    let (sent, kept) = (local.calls(), local.kept.load(SeqCst));
    assert_eq!(kept, sent - sent / 2);
    let received = remote.calls();
    eprintln!("video hooks: the host's hook kept {kept} of {sent}, the viewer received {received}");
    assert!(
        received <= kept && received * 10 >= kept * 9,
        "{received} of {kept} kept, {sent} sent"
    );
    // What the viewer's hook dropped went neither to its renderer nor into the counters.
    let shown_count = shown.calls();
    assert_eq!(shown_count, remote.kept.load(SeqCst));
    assert!(shown_count < received);
    assert_eq!(shown.last().format, LIVESTAGE_PIXELS_RGBA);
    assert_eq!(shown.last().media_id, media_id);
    let mut stats = LivestageStats::default();
    // SAFETY: literal C strings and a valid `stats`.
    let rc =
        unsafe { livestage_stats_track(viewer, c"show".as_ptr(), c"cam".as_ptr(), 0, &mut stats) };
    assert_eq!((rc, stats.video_frames), (1, shown_count));

    // Removed with null callbacks: not called again.
    assert_eq!(hook(viewer, LIVESTAGE_VIDEO_REMOTE, None, 0, None, None), 0);
    assert_eq!(renderer(viewer, None, 0, None, None), 0);
    assert_eq!(hook(host, LIVESTAGE_VIDEO_LOCAL, None, 0, None, None), 0);
    let pusher = Pusher::start(host);
    std::thread::sleep(Duration::from_millis(300));
    assert_silent(remote, "the remote hook");
    assert_silent(shown, "the renderer");

    // A hook slower than its 33 ms is removed after 5 pictures in a row and told.
    let slow = Seen::leak(Seen {
        delay_ms: 45,
        ..Seen::default()
    });
    let rc = hook(
        viewer,
        LIVESTAGE_VIDEO_REMOTE,
        Some((c"show", c"cam", 0)),
        LIVESTAGE_PIXELS_I420,
        Some(count),
        Some(slow),
    );
    assert_eq!(rc, 0, "{}", last_error());
    let event = wait_event(viewer, Duration::from_secs(10), |e| {
        e["type"] == "video_hook_removed"
    });
    let calls = slow.calls();
    let reason = event["reason"].as_str().unwrap().to_owned();
    assert_eq!(
        event,
        serde_json::json!({
            "type": "video_hook_removed",
            "channel": "show",
            "point": "remote",
            "renderer": false,
            "user": "cam",
            "media_id": media_id,
            "track": 0,
            "reason": reason,
        })
    );
    assert!(reason.contains("33 ms budget"), "{reason}");
    assert!((5..=7).contains(&calls), "{calls} calls before it went");
    assert_silent(slow, "the slow hook");
    // Its place is free: removing it again is nothing to do.
    assert_eq!(
        hook(
            viewer,
            LIVESTAGE_VIDEO_REMOTE,
            Some((c"show", c"cam", 0)),
            0,
            None,
            None
        ),
        0
    );
    drop(pusher);
    assert_eq!(livestage_engine_free(viewer), 0);
    assert_eq!(livestage_engine_free(host), 0);
}
