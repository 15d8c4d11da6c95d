//! Publishing to RTMP URLs on tokio: one task per URL around a sans-IO [`Session`], fed from
//! one broadcast channel of [`Tag`]s, reporting [`UrlState`]s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::runtime::Handle;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::session::{
    Backoff, Decision, FailReason, Fault, Headers, Progress, Retry, Sent, Session, Tag,
};
use super::url::Url;

/// Where one URL stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlState {
    /// Connecting for the first time.
    Connecting,
    /// Publish accepted and the first keyframe sent.
    Running,
    /// The connection failed or dropped; retrying.
    Recovering {
        /// Failures since it last ran (1 for the first).
        attempt: u32,
        /// What went wrong.
        reason: String,
    },
    /// Given up; the URL's task has ended.
    Failed {
        /// The kind of failure.
        reason: FailReason,
        /// What went wrong, for a person.
        message: String,
    },
    /// Removed or the output dropped; the connection was closed and the task has ended.
    Stopped,
}

/// A state change of the URL named by the first field (as given to [`Output::add`]).
pub type Report = (String, UrlState);

/// Timeouts and retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// TCP connect.
    pub connect_timeout: Duration,
    /// From TCP connected to `publish` accepted (handshake, `connect`, `publish`).
    pub publish_timeout: Duration,
    /// A write that makes no progress this long counts as a dropped connection.
    pub write_stall: Duration,
    /// Reconnect delays and the give-up time.
    pub backoff: Backoff,
    /// Tags the broadcast channel holds; a URL falling further behind skips to the next
    /// keyframe.
    pub queue: usize,
}

impl Default for Options {
    /// 5 s connect and publish timeouts, a 10 s write stall, [`Backoff::default`], 512 tags
    /// (several seconds of 30 fps video with audio).
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(5),
            write_stall: Duration::from_secs(10),
            backoff: Backoff::default(),
            queue: 512,
        }
    }
}

struct Sender {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The RTMP output of one stream: tags and headers in, one connection per URL out.
///
/// ```no_run
/// use livestage_server::rtmp::{Options, Output};
///
/// # let runtime = tokio::runtime::Runtime::new()?;
/// let (reports, mut states) = tokio::sync::mpsc::unbounded_channel();
/// let mut output = Output::new(runtime.handle().clone(), Options::default(), reports);
/// output.add("rtmp://127.0.0.1/live/key");
/// // output.set_headers(..) once the first keyframe is encoded, then output.send(tag) each tag.
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Dropping it stops every URL (each reports [`UrlState::Stopped`]).
pub struct Output {
    runtime: Handle,
    options: Options,
    feed: Feed,
    reports: mpsc::UnboundedSender<Report>,
    senders: BTreeMap<String, Sender>,
}

impl Output {
    /// An output whose URL tasks run on `runtime` and report to `reports`.
    pub fn new(runtime: Handle, options: Options, reports: mpsc::UnboundedSender<Report>) -> Self {
        let (tags, _) = broadcast::channel(options.queue.max(1));
        let (headers, _) = watch::channel(None);
        Self {
            runtime,
            options,
            feed: Feed {
                tags,
                headers: Arc::new(headers),
            },
            reports,
            senders: BTreeMap::new(),
        }
    }

    /// Starts publishing to `url`. A malformed URL reports
    /// [`Failed { reason: BadUrl, .. }`](UrlState::Failed) at once; a URL already added is
    /// left alone.
    pub fn add(&mut self, url: &str) {
        self.senders.retain(|_, s| !s.task.is_finished());
        if self.senders.contains_key(url) {
            return;
        }
        let parsed = match Url::parse(url) {
            Ok(parsed) => parsed,
            Err(e) => {
                let _ = self.reports.send((
                    url.to_owned(),
                    UrlState::Failed {
                        reason: FailReason::BadUrl,
                        message: e.to_string(),
                    },
                ));
                return;
            }
        };
        let (stop, stopped) = oneshot::channel();
        let link = Link {
            name: url.to_owned(),
            url: parsed,
            options: self.options,
            tags: self.feed.tags.subscribe(),
            headers: self.feed.headers.subscribe(),
            reports: self.reports.clone(),
        };
        let task = self.runtime.spawn(link.run(stopped));
        self.senders.insert(url.to_owned(), Sender { stop, task });
    }

    /// Stops publishing to `url` (it reports [`UrlState::Stopped`]); returns the task so the
    /// caller may await its end, or `None` if the URL was not added.
    pub fn remove(&mut self, url: &str) -> Option<JoinHandle<()>> {
        let sender = self.senders.remove(url)?;
        let _ = sender.stop.send(());
        Some(sender.task)
    }

    /// The URLs added and not removed (including ones that failed).
    pub fn urls(&self) -> Vec<String> {
        self.senders.keys().cloned().collect()
    }

    /// A handle for the encoder thread to send tags and headers through.
    pub fn feed(&self) -> Feed {
        self.feed.clone()
    }

    /// As [`Feed::set_headers`].
    pub fn set_headers(&self, headers: Headers) {
        self.feed.set_headers(headers);
    }

    /// As [`Feed::send`].
    pub fn send(&self, tag: Tag) {
        self.feed.send(tag);
    }
}

/// The input side of an [`Output`], for the encoder thread: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct Feed {
    tags: broadcast::Sender<Tag>,
    headers: Arc<watch::Sender<Option<Headers>>>,
}

impl Feed {
    /// Sets the headers every connection sends first (and running ones resend).
    pub fn set_headers(&self, headers: Headers) {
        self.headers.send_replace(Some(headers));
    }

    /// Sends a tag to every URL; never blocks (a URL that falls behind skips to the next
    /// keyframe).
    pub fn send(&self, tag: Tag) {
        let _ = self.tags.send(tag);
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        for (_, sender) in std::mem::take(&mut self.senders) {
            let _ = sender.stop.send(());
        }
    }
}

/// How a connection ended.
enum End {
    Stop,
    Fault(Fault),
}

impl From<Fault> for End {
    fn from(fault: Fault) -> Self {
        Self::Fault(fault)
    }
}

/// One URL's task.
struct Link {
    name: String,
    url: Url,
    options: Options,
    tags: broadcast::Receiver<Tag>,
    headers: watch::Receiver<Option<Headers>>,
    reports: mpsc::UnboundedSender<Report>,
}

impl Link {
    fn report(&self, state: UrlState) {
        let _ = self.reports.send((self.name.clone(), state));
    }

    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let mut retry = Retry::new(self.options.backoff, Instant::now());
        self.report(UrlState::Connecting);
        loop {
            let end = self.connection(&mut stopped, &mut retry).await;
            let fault = match end {
                End::Stop => break,
                End::Fault(Fault::Rejected { reason, message }) => {
                    self.report(UrlState::Failed { reason, message });
                    return;
                }
                End::Fault(Fault::Transient(reason)) => reason,
            };
            match retry.failed(Instant::now(), rand::random::<f64>()) {
                Decision::GiveUp => {
                    self.report(UrlState::Failed {
                        reason: FailReason::Unreachable,
                        message: format!(
                            "{} did not accept publishing within {:?}: {fault}",
                            self.url.redacted(),
                            self.options.backoff.give_up_after
                        ),
                    });
                    return;
                }
                Decision::Retry { attempt, delay } => {
                    tracing::info!(url = %self.url.redacted(), attempt, ?delay, %fault, "RTMP reconnecting");
                    self.report(UrlState::Recovering {
                        attempt,
                        reason: fault,
                    });
                    tokio::select! {
                        _ = &mut stopped => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.report(UrlState::Stopped);
    }

    /// One connection, from TCP connect to its end.
    async fn connection(&mut self, stopped: &mut oneshot::Receiver<()>, retry: &mut Retry) -> End {
        let target = (self.url.host.as_str(), self.url.port);
        let stream = tokio::select! {
            _ = &mut *stopped => return End::Stop,
            r = tokio::time::timeout(self.options.connect_timeout, TcpStream::connect(target)) => match r {
                Err(_) => return Fault::Transient("TCP connect timed out".into()).into(),
                Ok(Err(e)) => return Fault::Transient(format!("TCP connect failed: {e}")).into(),
                Ok(Ok(stream)) => stream,
            },
        };
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        let mut session = match Session::new(self.url.clone()) {
            Ok(session) => session,
            Err(fault) => return fault.into(),
        };
        let mut buf = vec![0u8; 16 * 1024];

        // Handshake, connect, publish.
        let deadline = tokio::time::Instant::now() + self.options.publish_timeout;
        while !session.is_published() {
            if let Err(end) = self.flush(&mut session, &mut writer).await {
                return end;
            }
            let n = tokio::select! {
                _ = &mut *stopped => return End::Stop,
                () = tokio::time::sleep_until(deadline) => {
                    return Fault::Transient("no publish accept within the timeout".into()).into();
                }
                r = reader.read(&mut buf) => match r {
                    Ok(0) => return Fault::Transient("the server closed the connection before publishing".into()).into(),
                    Ok(n) => n,
                    Err(e) => return Fault::Transient(format!("read failed: {e}")).into(),
                },
            };
            match session.handle_input(&buf[..n]) {
                Ok(Progress::Published | Progress::Pending) => {}
                Err(fault) => return fault.into(),
            }
        }
        // Tags queued while connecting are stale: start from the newest.
        self.tags = self.tags.resubscribe();
        let mut running = false;
        let mut resend = true;
        let end = loop {
            if std::mem::take(&mut resend) {
                let headers = self.headers.borrow_and_update().clone();
                if let Some(headers) = headers
                    && let Err(fault) = session.send_headers(&headers)
                {
                    break End::Fault(fault);
                }
            }
            if let Err(end) = self.flush(&mut session, &mut writer).await {
                break end;
            }
            tokio::select! {
                _ = &mut *stopped => break End::Stop,
                r = reader.read(&mut buf) => match r {
                    Ok(0) => break Fault::Transient("the server closed the connection".into()).into(),
                    Ok(n) => {
                        if let Err(fault) = session.handle_input(&buf[..n]) {
                            break fault.into();
                        }
                    }
                    Err(e) => break Fault::Transient(format!("read failed: {e}")).into(),
                },
                r = self.tags.recv() => match r {
                    Ok(tag) => match session.send_tag(&tag) {
                        Ok(Sent::Keyframe) if !running => {
                            running = true;
                            retry.ran();
                            // Report once the keyframe is written, below.
                            if let Err(end) = self.flush(&mut session, &mut writer).await {
                                break end;
                            }
                            self.report(UrlState::Running);
                        }
                        Ok(_) => {}
                        Err(fault) => break fault.into(),
                    },
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(url = %self.url.redacted(), skipped = n, "RTMP sender lagged");
                        session.lagged();
                    }
                    Err(broadcast::error::RecvError::Closed) => break End::Stop,
                },
                r = self.headers.changed() => match r {
                    Ok(()) => resend = true,
                    Err(_) => break End::Stop,
                },
            }
        };
        if matches!(end, End::Stop) {
            session.stop();
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                let _ = writer.write_all(&session.poll_transmit()).await;
                let _ = writer.shutdown().await;
            })
            .await;
        }
        end
    }

    /// Writes what the session has queued; a write that stalls past the limit is a drop.
    async fn flush(&self, session: &mut Session, writer: &mut OwnedWriteHalf) -> Result<(), End> {
        let bytes = session.poll_transmit();
        if bytes.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout(self.options.write_stall, writer.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Fault::Transient(format!("write failed: {e}")).into()),
            Err(_) => Err(Fault::Transient(format!(
                "the server read nothing for {:?}",
                self.options.write_stall
            ))
            .into()),
        }
    }
}
