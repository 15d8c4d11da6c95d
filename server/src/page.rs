//! The browser demo page over plain HTTP on loopback (`livestage serve --dev --web ADDR`):
//! the built files of `web/dist`, read once at start and served as they are. Loopback only:
//! plain HTTP is a secure context (which WebTransport and WebCodecs require) there alone.
//!
//! What a client can cost is bounded: connections at a time, the time to send a request's
//! head, and GET/HEAD of the files read at start (nothing is read from disk per request, so
//! no path can reach outside the folder).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::debug;

/// Connections served at once; more wait to be accepted.
const CONNECTIONS: usize = 64;
/// Longest a client may take to send a request's head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of files served (the built page is a few hundred KiB).
const MAX_TOTAL: u64 = 64 * 1024 * 1024;

/// The page's files by URL path (`/index.html`), with their content types.
#[derive(Clone, Default)]
pub struct Files {
    files: Arc<HashMap<String, (Bytes, &'static str)>>,
}

impl Files {
    /// Reads the files directly in `root` (a built `web/dist`); it must hold `index.html`.
    pub fn load(root: &Path) -> anyhow::Result<Self> {
        let entries = std::fs::read_dir(root).with_context(|| {
            format!(
                "the demo page is not built in {} (run `npm --prefix web ci && npm --prefix web run build`)",
                root.display()
            )
        })?;
        let mut files = HashMap::new();
        let mut total = 0;
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            total += meta.len();
            if total > MAX_TOTAL {
                bail!(
                    "{} holds more than {MAX_TOTAL} bytes; is it the built page?",
                    root.display()
                );
            }
            let bytes = std::fs::read(entry.path())?;
            files.insert(
                format!("/{name}"),
                (Bytes::from(bytes), content_type(&name)),
            );
        }
        if !files.contains_key("/index.html") {
            bail!(
                "no index.html in {} (run `npm --prefix web ci && npm --prefix web run build`)",
                root.display()
            );
        }
        Ok(Self {
            files: Arc::new(files),
        })
    }

    /// The answer to one request.
    fn respond(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return status(StatusCode::METHOD_NOT_ALLOWED);
        }
        let path = match request.uri().path() {
            "/" => "/index.html",
            path => path,
        };
        let Some((bytes, kind)) = self.files.get(path) else {
            return status(StatusCode::NOT_FOUND);
        };
        let body = if request.method() == Method::HEAD {
            Bytes::new()
        } else {
            bytes.clone()
        };
        let mut response = Response::new(Full::new(body));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
        // A rebuilt page is picked up on reload.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

/// Binds `addr` (a loopback address) and serves `files` there until the runtime stops;
/// returns the address bound.
pub async fn serve(addr: SocketAddr, files: Files) -> anyhow::Result<SocketAddr> {
    if !addr.ip().is_loopback() {
        bail!(
            "the demo page is served on loopback only ({addr} is not): browsers treat plain HTTP as a secure context there alone"
        );
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the demo page"))?;
    let bound = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let files = files.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let response = files.respond(&request);
                    async move { Ok::<_, Infallible>(response) }
                });
                let served = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEAD_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    debug!("demo page connection ended: {e}");
                }
                drop(slot);
            });
        }
    });
    Ok(bound)
}

/// [`serve`] from a thread of its own, for apps without a tokio runtime (the party game);
/// returns the address bound. The thread lives as long as the process.
pub fn serve_on_thread(addr: SocketAddr, files: Files) -> anyhow::Result<SocketAddr> {
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("livestage-page".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => return drop(bound_tx.send(Err(e.into()))),
            };
            runtime.block_on(async move {
                let bound = serve(addr, files).await;
                let serving = bound.is_ok();
                let _ = bound_tx.send(bound);
                if serving {
                    std::future::pending::<()>().await;
                }
            });
        })
        .context("cannot start the demo page's thread")?;
    bound_rx.recv().context("the demo page's thread ended")?
}

/// Where the built demo page is: `given`, else `web/dist` under the working directory, else
/// in the source tree this binary was built from.
pub fn root(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let here = PathBuf::from("web/dist");
        if here.join("index.html").is_file() {
            here
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist")
        }
    })
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(code.to_string())));
    *response.status_mut() = code;
    response
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}
