//! A private X server for screen capture tests and measurements: Xvfb on a free display
//! number, optionally openbox on it, both stopped when the [`Server`] is dropped; and a test
//! window that shows four coloured quadrants.
//!
//! Xvfb picks the display number itself (`-displayfd`), holding the lock file while it does, so
//! tests running in parallel never race for one. `-noreset` keeps it from resetting (and
//! refusing connections meanwhile) each time its last client leaves.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConfigureWindowAux, ConnectionExt, CreateWindowAux, MapState, PropMode, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// How long Xvfb and openbox get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The quadrant colours, as `[r, g, b]`: top left, top right, bottom left, bottom right.
pub const QUADRANTS: [[u8; 3]; 4] = [[220, 30, 30], [30, 200, 60], [40, 40, 220], [240, 240, 240]];

/// Xvfb (and openbox) on a display of their own.
pub struct Server {
    /// The display name, e.g. `":3"`.
    pub name: String,
    xvfb: Child,
    wm: Option<Child>,
}

fn spawn(command: &mut Command, what: &str) -> Child {
    command.spawn().unwrap_or_else(|e| {
        panic!("cannot start {what} ({e}); run `./dev setup` to install the test packages")
    })
}

impl Server {
    /// Xvfb with one `width`x`height` 24-bit screen, and openbox on it when `wm` is set.
    pub fn start(width: u32, height: u32, wm: bool) -> Self {
        let mut xvfb = spawn(
            Command::new("Xvfb")
                .args([
                    "-displayfd",
                    "1",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                    "-screen",
                    "0",
                ])
                .arg(format!("{width}x{height}x24"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
            "Xvfb",
        );
        let stdout = xvfb.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let number = rx.recv_timeout(START_TIMEOUT).unwrap_or_default();
        let number = number.trim();
        if number.is_empty() {
            let _ = xvfb.kill();
            let _ = xvfb.wait();
            panic!("Xvfb did not start within {START_TIMEOUT:?}");
        }
        let mut server = Self {
            name: format!(":{number}"),
            xvfb,
            wm: None,
        };
        if wm {
            server.wm = Some(spawn(
                Command::new("openbox")
                    .arg("--sm-disable")
                    .env("DISPLAY", &server.name)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
                "openbox",
            ));
            server.wait_for_wm();
        }
        server
    }

    /// A new client connection.
    pub fn connect(&self) -> RustConnection {
        RustConnection::connect(Some(&self.name)).unwrap().0
    }

    fn wait_for_wm(&self) {
        let conn = self.connect();
        let root = conn.setup().roots[0].root;
        let check = atom(&conn, "_NET_SUPPORTING_WM_CHECK");
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            let reply = conn
                .get_property(false, root, check, AtomEnum::WINDOW, 0, 1)
                .unwrap()
                .reply()
                .unwrap();
            if !reply.value.is_empty() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("openbox did not start within {START_TIMEOUT:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in self.wm.iter_mut().chain([&mut self.xvfb]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn atom(conn: &RustConnection, name: &str) -> u32 {
    conn.intern_atom(false, name.as_bytes())
        .unwrap()
        .reply()
        .unwrap()
        .atom
}

/// A top-level window of four coloured quadrants (child windows with background colours, so
/// the server paints them itself whenever they are exposed).
pub struct TestWindow {
    conn: RustConnection,
    /// The X window id.
    pub id: u32,
    root: u32,
}

impl TestWindow {
    /// Opens a `width`x`height` window asking for position `x`,`y` (a window manager may
    /// place it elsewhere), and waits until it is viewable.
    pub fn open(
        server: &Server,
        title: &str,
        (x, y): (i16, i16),
        (width, height): (u16, u16),
    ) -> Self {
        let conn = server.connect();
        let screen = &conn.setup().roots[0];
        let root = screen.root;
        let id = conn.generate_id().unwrap();
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            id,
            root,
            x,
            y,
            width,
            height,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new().background_pixel(screen.black_pixel),
        )
        .unwrap();
        let (half_w, half_h) = (width / 2, height / 2);
        for (n, [r, g, b]) in QUADRANTS.into_iter().enumerate() {
            let child = conn.generate_id().unwrap();
            let pixel = u32::from(r) << 16 | u32::from(g) << 8 | u32::from(b);
            let (qx, qy) = (
                (n % 2) as i16 * half_w as i16,
                (n / 2) as i16 * half_h as i16,
            );
            conn.create_window(
                x11rb::COPY_DEPTH_FROM_PARENT,
                child,
                id,
                qx,
                qy,
                half_w,
                half_h,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &CreateWindowAux::new().background_pixel(pixel),
            )
            .unwrap();
            conn.map_window(child).unwrap();
        }
        let utf8 = atom(&conn, "UTF8_STRING");
        let net_name = atom(&conn, "_NET_WM_NAME");
        conn.change_property8(PropMode::REPLACE, id, net_name, utf8, title.as_bytes())
            .unwrap();
        let latin1: String = title.chars().filter(char::is_ascii).collect();
        conn.change_property8(
            PropMode::REPLACE,
            id,
            AtomEnum::WM_NAME,
            AtomEnum::STRING,
            latin1.as_bytes(),
        )
        .unwrap();
        conn.map_window(id).unwrap();
        conn.flush().unwrap();
        let window = Self { conn, id, root };
        // A window manager that is still starting may miss the first map request; asking again
        // is harmless once it manages the window.
        let mut polls = 0;
        window.wait_until(
            || {
                polls += 1;
                if polls % 25 == 0 {
                    window.conn.map_window(id).unwrap();
                    window.conn.flush().unwrap();
                }
                window.viewable()
            },
            "viewable",
        );
        window
    }

    fn viewable(&self) -> bool {
        let attributes = self
            .conn
            .get_window_attributes(self.id)
            .unwrap()
            .reply()
            .unwrap();
        attributes.map_state == MapState::VIEWABLE
    }

    /// Polls `done` for up to [`START_TIMEOUT`].
    pub fn wait_until(&self, mut done: impl FnMut() -> bool, what: &str) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "the test window did not become {what}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Where the window's top-left corner is on the screen.
    pub fn position(&self) -> (i32, i32) {
        let reply = self
            .conn
            .translate_coordinates(self.id, self.root, 0, 0)
            .unwrap()
            .reply()
            .unwrap();
        (reply.dst_x.into(), reply.dst_y.into())
    }

    /// Asks to move the window (a window manager may adjust it) and waits until it has moved.
    pub fn move_to(&self, x: i32, y: i32) {
        let before = self.position();
        self.conn
            .configure_window(self.id, &ConfigureWindowAux::new().x(x).y(y))
            .unwrap();
        self.conn.flush().unwrap();
        self.wait_until(|| self.position() != before, "moved");
    }

    /// Moves the pointer to `x`,`y` inside the window.
    pub fn point_at(&self, x: i16, y: i16) {
        self.conn
            .warp_pointer(x11rb::NONE, self.id, 0, 0, 0, 0, x, y)
            .unwrap();
        self.conn.flush().unwrap();
    }

    /// Destroys the window.
    pub fn destroy(&self) {
        self.conn.destroy_window(self.id).unwrap();
        self.conn.flush().unwrap();
    }
}
