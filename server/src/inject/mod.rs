//! Injects, the glue side: acts on the core's [`Output::Inject`](core::Output::Inject), checks
//! the source against the `[inject]` allow-list, runs one thread per inject and passes its
//! state back to the core, which tells the requester and the channel's moderators.
//!
//! Data flow of one inject: the source ([`file`]: MP4 and Matroska through the media crate's
//! demuxer and music decoder; [`stream`]: an RTMP stream played over TCP, or an FLV file read
//! by [`flv_file`]) -> the net crate's
//! [`Publisher`](livestage_net::publish::Publisher), joined to this server over loopback QUIC
//! as the host `inject-<name>` ([`stage`]). The forwarding path sees an ordinary host; the
//! inject is subject to the host cap, mutes, hearing sets and kicks like anyone.
//!
//! The manager lives in the core task and never blocks it: starting an inject spawns its
//! thread, stopping one only signals it.

mod file;
mod flv_file;
mod stage;
mod stream;

use std::collections::HashMap;
use std::path::PathBuf;

use crossbeam_channel::Sender;
use livestage_proto::inject;
use livestage_proto::push::{FailReason, UrlState};
use livestage_proto::server as core;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::allow::{Allow, PathRefused};
use crate::push::Context;
use crate::rtmp;

/// An inject: (channel, name).
pub type Key = (String, String);

/// A worker's state change.
#[derive(Debug)]
pub struct Report {
    key: Key,
    run: u64,
    state: UrlState,
}

/// What the manager asks of a running worker.
#[derive(Debug)]
enum Command {
    Volume(u8),
    Stop,
}

/// What an inject plays, once allowed.
#[derive(Clone, Debug)]
enum Source {
    /// An MP4 or Matroska file on this server (resolved, inside an allowed folder).
    File(PathBuf),
    /// An FLV file on this server, played like an RTMP stream.
    FlvFile(PathBuf),
    /// A live RTMP stream on an allowed server.
    Rtmp(rtmp::Url),
}

/// Everything one inject needs to start.
struct Job {
    ctx: Context,
    key: Key,
    run: u64,
    source: Source,
    options: inject::Options,
}

/// Starts the thread of `job`; its states go to `reports`, the last one final.
fn spawn(
    job: Job,
    commands: crossbeam_channel::Receiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("livestage-inject-{}", job.run))
        .spawn(move || {
            let report = |state| {
                let _ = reports.send(Report {
                    key: job.key.clone(),
                    run: job.run,
                    state,
                });
            };
            report(UrlState::Connecting);
            let last = match &job.source {
                Source::File(path) => file::run(&job, path, &commands, &report),
                Source::FlvFile(path) => stream::run_file(&job, path, &commands, &report),
                Source::Rtmp(url) => stream::run(&job, url, &commands, &report),
            };
            report(last);
        })
        .map(drop)
}

struct Running {
    run: u64,
    commands: Sender<Command>,
}

/// Every inject of the server.
pub struct Injects {
    ctx: Context,
    allow: Allow,
    running: HashMap<Key, Running>,
    reports: mpsc::UnboundedSender<Report>,
    next_run: u64,
}

impl Injects {
    /// No injects yet; sources must be on `allow`. Workers report on the returned receiver
    /// (feed it to [`Injects::report`]).
    pub fn new(ctx: Context, allow: Allow) -> (Self, mpsc::UnboundedReceiver<Report>) {
        let (reports, rx) = mpsc::unbounded_channel();
        let injects = Self {
            ctx,
            allow,
            running: HashMap::new(),
            reports,
            next_run: 1,
        };
        (injects, rx)
    }

    /// Acts on a checked request from the core.
    pub fn handle(
        &mut self,
        core: &mut core::Server,
        channel: String,
        by: &str,
        request: inject::Request,
    ) {
        let key = (channel, request.name().to_owned());
        match request {
            inject::Request::Start {
                source, options, ..
            } => {
                let source = match self.source(&source) {
                    Ok(source) => source,
                    Err((reason, message)) => {
                        self.end(core, &key, failed(reason, message));
                        return;
                    }
                };
                let run = self.next_run;
                self.next_run += 1;
                let (commands, inbox) = crossbeam_channel::unbounded();
                let job = Job {
                    ctx: self.ctx.clone(),
                    key: key.clone(),
                    run,
                    source,
                    options,
                };
                if let Err(e) = spawn(job, inbox, self.reports.clone()) {
                    warn!(
                        channel = key.0,
                        inject = key.1,
                        "cannot start an inject: {e}"
                    );
                    let state = failed(FailReason::Internal, format!("cannot start: {e}"));
                    self.end(core, &key, state);
                    return;
                }
                info!(channel = key.0, inject = key.1, by, "inject started");
                self.running.insert(key, Running { run, commands });
            }
            inject::Request::Update { volume, .. } => {
                if let Some(running) = self.running.get(&key) {
                    let _ = running.commands.send(Command::Volume(volume));
                }
            }
            inject::Request::Stop { .. } => {
                info!(channel = key.0, inject = key.1, by, "inject stopped");
                if let Some(running) = self.running.remove(&key) {
                    let _ = running.commands.send(Command::Stop);
                }
                self.end(core, &key, UrlState::Stopped);
            }
        }
    }

    /// Passes a worker's state on to the core; a final state ends the inject.
    pub fn report(&mut self, core: &mut core::Server, report: Report) {
        let Report { key, run, state } = report;
        if self.running.get(&key).is_none_or(|r| r.run != run) {
            return; // From an earlier run.
        }
        if state.is_final() {
            self.running.remove(&key);
            self.end(core, &key, state);
        } else {
            core.inject_state(&key.0, &key.1, state);
        }
    }

    /// Reports the last state and frees the name.
    fn end(&mut self, core: &mut core::Server, key: &Key, state: UrlState) {
        if let UrlState::Failed { reason, message } = &state {
            warn!(
                channel = key.0,
                inject = key.1,
                reason = reason.as_str(),
                "inject failed: {message}"
            );
        }
        core.inject_state(&key.0, &key.1, state);
        core.inject_ended(&key.0, &key.1);
    }

    /// What `source` names, if the allow-list lets the server open it.
    fn source(&self, source: &str) -> Result<Source, (FailReason, String)> {
        if let Some((scheme, _)) = source.split_once("://") {
            if !scheme.eq_ignore_ascii_case("rtmp") {
                let message = format!(
                    "{scheme}:// sources are not supported; give an rtmp:// URL or a file path \
                     on the server"
                );
                return Err((FailReason::BadUrl, message));
            }
            let url = rtmp::Url::parse(source).map_err(|e| (FailReason::BadUrl, e.to_string()))?;
            self.allow
                .url(source)
                .map_err(|why| (FailReason::NotAllowed, why))?;
            return Ok(Source::Rtmp(url));
        }
        let path = self.allow.path(source).map_err(|why| match why {
            PathRefused::NotAllowed(why) => (FailReason::NotAllowed, why),
            PathRefused::NotFound(why) => (FailReason::NotFound, why),
        })?;
        Ok(if flv_file::sniff(&path) {
            Source::FlvFile(path)
        } else {
            Source::File(path)
        })
    }
}

/// A failure as the wire reports it; the message is cut so the event always fits a control
/// frame.
fn failed(reason: FailReason, message: String) -> UrlState {
    UrlState::Failed {
        reason,
        message: message.chars().take(600).collect(),
    }
}
