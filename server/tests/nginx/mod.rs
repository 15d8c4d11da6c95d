//! A private nginx-rtmp on a free loopback port, for tests: `live on;` application `live`,
//! its own prefix, pid and error log in a temp dir, stopped (killed) when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's libnginx-mod-rtmp puts the module.
pub const MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// A running nginx-rtmp.
pub struct Nginx {
    /// Its RTMP port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Nginx {
    /// Starts one, or `None` (after saying why) when nginx or the RTMP module is missing.
    pub fn start() -> Option<Self> {
        let nginx = Command::new("nginx")
            .arg("-v")
            .stderr(Stdio::null())
            .status();
        if nginx.is_err() || !Path::new(MODULE).exists() {
            eprintln!(
                "SKIPPED: nginx or {MODULE} is missing (apt-get install nginx libnginx-mod-rtmp)"
            );
            return None;
        }
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = format!(
            "load_module {MODULE};\n\
             daemon off; master_process off;\n\
             error_log {dir}/error.log info; pid {dir}/nginx.pid;\n\
             events {{}}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
               application live {{ live on; }} }} }}\n",
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("write nginx.conf");
        let mut nginx = Self {
            port,
            dir,
            child: None,
        };
        nginx.spawn();
        Some(nginx)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("nginx.conf")
    }

    fn spawn(&mut self) {
        let child = Command::new("nginx")
            .arg("-c")
            .arg(self.conf())
            .arg("-p")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {}: {}",
                self.port,
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `rtmp://` URL of stream `key` in application `live`.
    pub fn url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.port)
    }

    /// Kills it (connections drop at once).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it and starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Its error log so far, for failure messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}
