//! Screen capture on a private Xvfb: a window share shows the window and follows it, a region
//! share shows what is at its offset, a closed window ends the share, bad input is an error
//! that says what to do, and the listings show the display and the window.
//!
//! Each test starts its own Xvfb (and openbox where it needs a window manager); see `xserver`.
#![allow(clippy::unwrap_used)]

mod xserver;

use std::thread;
use std::time::{Duration, Instant};

use livestage_media::video::convert::i420_to_rgba;
use livestage_media::video::screen::{self, Options, Rect, ScreenError, Target};
use livestage_media::video::{I420, Rgba, ScreenSource};
use xserver::{QUADRANTS, Server, TestWindow};

/// How long a share gets to show what is expected.
const SHOW_TIMEOUT: Duration = Duration::from_secs(3);
/// Tolerance per colour channel (limited-range YUV round trip, bilinear scaling).
const TOLERANCE: u8 = 24;

fn options(server: &Server) -> Options {
    Options {
        server: Some(server.name.clone()),
        // The pointer sits in the middle of Xvfb's screen; keep it out of the colour checks.
        cursor: false,
        fps: 30.0,
        ..Options::default()
    }
}

/// Checks that `frame` shows the four quadrants in the `width`x`height` rectangle at `x`,`y`,
/// sampling the middle of each quadrant.
fn quadrants_at(
    frame: &Rgba,
    (x, y): (u32, u32),
    (width, height): (u32, u32),
) -> Result<(), String> {
    for (n, expected) in QUADRANTS.iter().enumerate() {
        let px = x + width / 4 + (n as u32 % 2) * width / 2;
        let py = y + height / 4 + (n as u32 / 2) * height / 2;
        let pixel = frame
            .pixel(px, py)
            .ok_or_else(|| format!("{px},{py} is outside the {:?} frame", frame.size()))?;
        if pixel
            .iter()
            .zip(expected)
            .any(|(&a, &b)| a.abs_diff(b) > TOLERANCE)
        {
            return Err(format!(
                "pixel {px},{py} is {pixel:?}, expected about {expected:?}"
            ));
        }
    }
    Ok(())
}

/// Takes frames until `check` passes on one, for up to [`SHOW_TIMEOUT`].
/// Returns that frame and its capture time.
fn eventually(
    source: &mut ScreenSource,
    check: impl Fn(&Rgba) -> Result<(), String>,
) -> (I420, u64) {
    let deadline = Instant::now() + SHOW_TIMEOUT;
    let mut last = "no frame arrived".to_owned();
    while Instant::now() < deadline {
        if let Some((frame, capture_us)) = source.latest() {
            match check(&i420_to_rgba(&frame)) {
                Ok(()) => return (frame, capture_us),
                Err(why) => last = why,
            }
        }
        assert_eq!(source.ended(), None, "the share ended");
        thread::sleep(Duration::from_millis(10));
    }
    panic!("the share did not show what was expected within {SHOW_TIMEOUT:?}: {last}");
}

#[test]
fn a_window_share_shows_the_window_at_the_scaled_size() {
    let server = Server::start(1280, 720, true);
    let window = TestWindow::open(&server, "quadrants", (100, 100), (400, 300));
    let mut source = ScreenSource::new(Target::Window(window.id), options(&server)).unwrap();
    assert_eq!(
        source.size(),
        (400, 300),
        "a window smaller than the maximum is not scaled"
    );
    eventually(&mut source, |f| quadrants_at(f, (0, 0), (400, 300)));

    let small = Options {
        max_width: 200,
        max_height: 200,
        ..options(&server)
    };
    let mut source = ScreenSource::new(Target::Window(window.id), small).unwrap();
    assert_eq!(
        source.size(),
        (200, 150),
        "the aspect is kept within the maximum"
    );
    let (_, capture_us) = eventually(&mut source, |f| quadrants_at(f, (0, 0), (200, 150)));
    assert!(
        capture_us > 1_600_000_000_000_000,
        "capture times are Unix-epoch microseconds"
    );
}

#[test]
fn a_region_share_shows_the_pattern_at_its_offset() {
    // Without a window manager the window stays where it asked to be.
    let server = Server::start(1280, 720, false);
    let window = TestWindow::open(&server, "quadrants", (100, 80), (400, 300));
    assert_eq!(window.position(), (100, 80));
    let region = Target::Region {
        x: 60,
        y: 40,
        width: 640,
        height: 360,
    };
    let half = Options {
        max_width: 320,
        max_height: 320,
        ..options(&server)
    };
    let mut source = ScreenSource::new(region, half).unwrap();
    assert_eq!(source.size(), (320, 180));
    // The window is at 40,40 in the region, 20,20 at half size, and 200x150 there.
    eventually(&mut source, |f| quadrants_at(f, (20, 20), (200, 150)));
}

#[test]
fn a_region_of_a_window_shows_that_part_of_it() {
    let server = Server::start(1280, 720, false);
    let window = TestWindow::open(&server, "quadrants", (100, 80), (400, 300));
    // The right half of the window: green above white.
    let right_half = Options {
        region: Some(Rect {
            x: 200,
            y: 0,
            width: 200,
            height: 300,
        }),
        ..options(&server)
    };
    let mut source = ScreenSource::new(Target::Window(window.id), right_half).unwrap();
    assert_eq!(source.size(), (200, 300));
    let green_over_white = |f: &Rgba| {
        let top = f.pixel(100, 75).unwrap();
        let bottom = f.pixel(100, 225).unwrap();
        let near =
            |a: [u8; 4], b: [u8; 3]| a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= TOLERANCE);
        if near(top, QUADRANTS[1]) && near(bottom, QUADRANTS[3]) {
            Ok(())
        } else {
            Err(format!("top {top:?}, bottom {bottom:?}"))
        }
    };
    eventually(&mut source, green_over_white);

    // The whole window again, letterboxed into the same 200x300 frame: 200x150 in the middle.
    source.set_region(None).unwrap();
    assert_eq!(source.size(), (200, 300));
    eventually(&mut source, |f| quadrants_at(f, (0, 74), (200, 150)));
}

#[test]
fn a_window_share_follows_the_window_when_it_moves() {
    let server = Server::start(1280, 720, true);
    let window = TestWindow::open(&server, "quadrants", (100, 100), (400, 300));
    let mut source = ScreenSource::new(Target::Window(window.id), options(&server)).unwrap();
    eventually(&mut source, |f| quadrants_at(f, (0, 0), (400, 300)));
    let before = window.position();
    window.move_to(700, 350);
    assert_ne!(window.position(), before);
    // Drop frames taken before the move.
    thread::sleep(Duration::from_millis(100));
    source.latest();
    eventually(&mut source, |f| quadrants_at(f, (0, 0), (400, 300)));
}

#[test]
fn closing_the_window_ends_the_share() {
    let server = Server::start(1280, 720, true);
    let window = TestWindow::open(&server, "quadrants", (100, 100), (400, 300));
    let mut source = ScreenSource::new(Target::Window(window.id), options(&server)).unwrap();
    eventually(&mut source, |f| quadrants_at(f, (0, 0), (400, 300)));
    window.destroy();
    let deadline = Instant::now() + Duration::from_secs(1);
    while source.ended().is_none() {
        assert!(
            Instant::now() < deadline,
            "the share did not end within a second"
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(source.ended(), Some(ScreenError::WindowClosed));
    assert!(
        source.latest().is_none(),
        "an ended share delivers no frame"
    );
    thread::sleep(Duration::from_millis(100));
    assert!(source.latest().is_none(), "an ended share stays ended");
    assert_eq!(source.set_region(None), Err(ScreenError::WindowClosed));
}

#[test]
fn the_cursor_is_drawn_only_when_asked() {
    let server = Server::start(1280, 720, false);
    let window = TestWindow::open(&server, "quadrants", (100, 80), (400, 300));
    window.point_at(100, 75);
    // A 32x32 box around the pointer, in the middle of the red quadrant.
    let box_is_red = |f: &Rgba| {
        let mut off = 0;
        for y in 59..91 {
            for x in 84..116 {
                let pixel = f.pixel(x, y).unwrap();
                if pixel
                    .iter()
                    .zip(QUADRANTS[0])
                    .any(|(&a, b)| a.abs_diff(b) > TOLERANCE)
                {
                    off += 1;
                }
            }
        }
        if off == 0 {
            Ok(())
        } else {
            Err(format!("{off} pixels around the pointer are not red"))
        }
    };
    let mut source = ScreenSource::new(Target::Window(window.id), options(&server)).unwrap();
    eventually(&mut source, box_is_red);
    let with_cursor = Options {
        cursor: true,
        ..options(&server)
    };
    let mut source = ScreenSource::new(Target::Window(window.id), with_cursor).unwrap();
    eventually(&mut source, |f| match box_is_red(f) {
        Ok(()) => Err("no cursor around the pointer".to_owned()),
        Err(_) => Ok(()),
    });
}

#[test]
fn an_x_server_that_stops_ends_the_share() {
    let server = Server::start(1280, 720, false);
    let options = options(&server);
    let displays = screen::displays_on(Some(&server.name)).unwrap();
    let mut source = ScreenSource::new(Target::Display(displays[0].id), options).unwrap();
    eventually(&mut source, |_| Ok(()));
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(1);
    while source.ended().is_none() {
        assert!(
            Instant::now() < deadline,
            "the share did not end within a second"
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(source.ended(), Some(ScreenError::DisplayGone));
    assert!(source.latest().is_none());
}

#[test]
fn a_display_that_goes_away_ends_the_share() {
    use x11rb::connection::Connection;
    use x11rb::protocol::randr::{self, MonitorInfo};
    use x11rb::protocol::xproto::ConnectionExt;

    let server = Server::start(1280, 720, false);
    let conn = server.connect();
    let root = conn.setup().roots[0].root;
    let name = conn
        .intern_atom(false, b"TEST-1")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    // A second monitor over the right half of the screen, as a projector would add.
    let monitor = MonitorInfo {
        name,
        primary: false,
        automatic: false,
        x: 640,
        y: 0,
        width: 640,
        height: 720,
        width_in_millimeters: 0,
        height_in_millimeters: 0,
        outputs: Vec::new(),
    };
    randr::set_monitor(&conn, root, monitor)
        .unwrap()
        .check()
        .unwrap();
    let displays = screen::displays_on(Some(&server.name)).unwrap();
    let added = displays.iter().find(|d| d.name == "TEST-1").unwrap();
    assert_eq!((added.x, added.width, added.height), (640, 640, 720));

    let mut source = ScreenSource::new(Target::Display(added.id), options(&server)).unwrap();
    assert_eq!(source.size(), (640, 720));
    eventually(&mut source, |_| Ok(()));
    randr::delete_monitor(&conn, root, name)
        .unwrap()
        .check()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while source.ended().is_none() {
        assert!(
            Instant::now() < deadline,
            "the share did not end within a second"
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(source.ended(), Some(ScreenError::DisplayGone));
}

#[test]
fn bad_targets_are_errors_that_say_what_to_do() {
    let server = Server::start(1280, 720, false);
    let window = TestWindow::open(&server, "quadrants", (100, 80), (400, 300));

    let missing = ScreenSource::new(Target::Window(0x1fff_fffe), options(&server)).unwrap_err();
    assert_eq!(missing, ScreenError::NoSuchWindow(0x1fff_fffe));
    assert!(
        missing.to_string().contains("list the windows again"),
        "{missing}"
    );

    let missing = ScreenSource::new(Target::Display(12345), options(&server)).unwrap_err();
    assert_eq!(missing, ScreenError::NoSuchDisplay(12345));

    let outside = Target::Region {
        x: 1200,
        y: 700,
        width: 200,
        height: 100,
    };
    let error = ScreenSource::new(outside, options(&server)).unwrap_err();
    assert!(
        matches!(
            error,
            ScreenError::RegionOutside {
                within: "display",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("1280x720"), "{error}");

    let beyond_the_window = Options {
        region: Some(Rect {
            x: 300,
            y: 0,
            width: 200,
            height: 100,
        }),
        ..options(&server)
    };
    let error = ScreenSource::new(Target::Window(window.id), beyond_the_window).unwrap_err();
    assert!(
        matches!(
            error,
            ScreenError::RegionOutside {
                within: "window",
                ..
            }
        ),
        "{error}"
    );

    // A running share refuses a bad region and keeps the one it has.
    let mut source = ScreenSource::new(Target::Window(window.id), options(&server)).unwrap();
    let bad = Some(Rect {
        x: -10,
        y: 0,
        width: 50,
        height: 50,
    });
    assert!(matches!(
        source.set_region(bad),
        Err(ScreenError::RegionOutside { .. })
    ));
    eventually(&mut source, |f| quadrants_at(f, (0, 0), (400, 300)));
}

#[test]
fn no_x_server_is_unavailable() {
    // A display number with no server behind it.
    let free = (59_000..60_000)
        .find(|n| !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
        .unwrap();
    let name = format!(":{free}");
    let options = Options {
        server: Some(name.clone()),
        ..Options::default()
    };
    let error = ScreenSource::new(Target::Display(0), options).unwrap_err();
    assert!(matches!(error, ScreenError::Unavailable(_)), "{error}");
    assert_eq!(error.code(), "screen_unavailable");
    assert!(error.to_string().contains(&name), "{error}");
    assert!(matches!(
        screen::displays_on(Some(&name)),
        Err(ScreenError::Unavailable(_))
    ));
    assert!(matches!(
        screen::windows_on(Some(&name)),
        Err(ScreenError::Unavailable(_))
    ));
}

#[test]
fn the_listings_show_the_display_and_the_managed_window() {
    let server = Server::start(1280, 720, true);
    let title = "Livestage test — quadrants ✓";
    let window = TestWindow::open(&server, title, (100, 100), (400, 300));

    let displays = screen::displays_on(Some(&server.name)).unwrap();
    assert!(
        displays
            .iter()
            .any(|d| (d.x, d.y, d.width, d.height) == (0, 0, 1280, 720)),
        "{displays:?}"
    );
    let display = &displays[0];
    let mut source = ScreenSource::new(Target::Display(display.id), options(&server)).unwrap();
    assert_eq!(source.size(), (1280, 720));
    let (x, y) = window.position();
    eventually(&mut source, |f| {
        quadrants_at(f, (x as u32, y as u32), (400, 300))
    });

    // The window manager lists the window once it manages it.
    let deadline = Instant::now() + SHOW_TIMEOUT;
    let listed = loop {
        let windows = screen::windows_on(Some(&server.name)).unwrap();
        if let Some(listed) = windows.into_iter().find(|w| w.id == window.id) {
            break listed;
        }
        assert!(
            Instant::now() < deadline,
            "the window manager did not list the window"
        );
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(listed.title, title);
    assert_eq!(
        (listed.x, listed.y, listed.width, listed.height),
        (x, y, 400, 300)
    );
}

#[test]
fn without_a_window_manager_named_top_level_windows_are_listed() {
    let server = Server::start(1280, 720, false);
    let window = TestWindow::open(&server, "no manager", (10, 20), (64, 48));
    let windows = screen::windows_on(Some(&server.name)).unwrap();
    let listed = windows.iter().find(|w| w.id == window.id).unwrap();
    assert_eq!(listed.title, "no manager");
    assert_eq!(
        (listed.x, listed.y, listed.width, listed.height),
        (10, 20, 64, 48)
    );
    let displays = screen::displays_on(Some(&server.name)).unwrap();
    assert_eq!((displays[0].width, displays[0].height), (1280, 720));
}
