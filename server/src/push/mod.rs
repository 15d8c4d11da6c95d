//! CDN pushes, the glue side: acts on the core's [`Output::Push`](core::Output::Push), runs
//! one [`worker`] thread per push and passes each URL's state back to the core, which tells the
//! requester and the channel's moderators.
//!
//! Data flow of one push: a [`viewer`] (a client of this server, joined as audience) decodes
//! the hosts the layout needs -> the worker composes them on a canvas and encodes H.264, mixes
//! and encodes AAC ([`sound`]) -> FLV tags -> [`crate::rtmp`], one sender per URL.
//!
//! The manager lives in the core task and never blocks it: starting a push spawns its thread,
//! stopping one only signals it. URLs are checked against the allow-list here, before any
//! connection is made.

mod sound;
mod viewer;
mod worker;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use crossbeam_channel::Sender;
use livestage_proto::push::{self, FailReason, UrlState};
use livestage_proto::server as core;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::allow::Allow;

/// What every push needs to know about its server.
#[derive(Clone, Debug)]
pub struct Context {
    /// Where the server listens, as a client on this machine reaches it.
    pub server: SocketAddr,
    /// The name in the server's certificate.
    pub server_name: String,
    /// The server's certificate (PEM), for the viewer to trust.
    pub cert_pem: Vec<u8>,
    /// The app id tokens name.
    pub app: String,
    /// The token secret (the viewer mints its own token).
    pub secret: String,
    /// Lifetime of the viewer's token.
    pub token_secs: u64,
    /// Where pushes may go.
    pub allow: Allow,
    /// The runtime the RTMP senders run on.
    pub runtime: tokio::runtime::Handle,
}

/// What a worker reports.
#[derive(Debug)]
pub enum Report {
    /// A URL changed state.
    State {
        /// Which push.
        key: Key,
        /// Which run of it (a stopped push's name may be started again).
        run: u64,
        /// The URL.
        url: String,
        /// Its state.
        state: UrlState,
    },
    /// The push stopped by itself (its pipeline failed).
    Ended {
        /// Which push.
        key: Key,
        /// Which run.
        run: u64,
        /// Why.
        error: String,
    },
}

/// A push: (channel, name).
pub type Key = (String, String);

/// What the manager asks of a running worker.
#[derive(Debug)]
enum Command {
    Update {
        layout: Option<push::Layout>,
        add: Vec<String>,
        remove: Vec<String>,
    },
    Stop,
}

struct Running {
    run: u64,
    commands: Sender<Command>,
    /// The URLs being sent to (not failed, not removed).
    urls: BTreeSet<String>,
}

/// Every push of the server.
pub struct Pushes {
    ctx: Context,
    running: HashMap<Key, Running>,
    reports: mpsc::UnboundedSender<Report>,
    next_run: u64,
}

impl Pushes {
    /// No pushes yet; workers report on the returned receiver (feed it to [`Pushes::report`]).
    pub fn new(ctx: Context) -> (Self, mpsc::UnboundedReceiver<Report>) {
        let (reports, rx) = mpsc::unbounded_channel();
        let pushes = Self {
            ctx,
            running: HashMap::new(),
            reports,
            next_run: 1,
        };
        (pushes, rx)
    }

    /// Acts on a checked request from the core.
    pub fn handle(
        &mut self,
        core: &mut core::Server,
        channel: String,
        by: &str,
        request: push::Request,
    ) {
        let key = (channel, request.name().to_owned());
        match request {
            push::Request::Start { urls, layout, .. } => {
                let urls = self.allowed(core, &key, urls);
                if urls.is_empty() {
                    core.push_ended(&key.0, &key.1);
                    return;
                }
                let run = self.next_run;
                self.next_run += 1;
                let (commands, inbox) = crossbeam_channel::unbounded();
                let spawned = worker::spawn(
                    self.ctx.clone(),
                    key.clone(),
                    run,
                    layout,
                    urls.iter().cloned().collect(),
                    inbox,
                    self.reports.clone(),
                );
                if let Err(e) = spawned {
                    warn!(channel = key.0, push = key.1, "cannot start a push: {e}");
                    for url in &urls {
                        let state = failed(FailReason::Internal, format!("cannot start: {e}"));
                        core.push_state(&key.0, &key.1, url, state);
                    }
                    core.push_ended(&key.0, &key.1);
                    return;
                }
                info!(
                    channel = key.0,
                    push = key.1,
                    by,
                    urls = urls.len(),
                    "push started"
                );
                self.running.insert(
                    key,
                    Running {
                        run,
                        commands,
                        urls,
                    },
                );
            }
            push::Request::Update {
                layout,
                add,
                remove,
                ..
            } => {
                let add: Vec<String> = self.allowed(core, &key, add).into_iter().collect();
                let Some(running) = self.running.get_mut(&key) else {
                    return;
                };
                let remove: Vec<String> = remove
                    .into_iter()
                    .filter(|url| running.urls.remove(url))
                    .collect();
                running.urls.extend(add.iter().cloned());
                let _ = running.commands.send(Command::Update {
                    layout,
                    add,
                    remove: remove.clone(),
                });
                for url in &remove {
                    core.push_state(&key.0, &key.1, url, UrlState::Stopped);
                }
                if running.urls.is_empty() {
                    self.stop(core, &key);
                }
            }
            push::Request::Stop { .. } => {
                info!(channel = key.0, push = key.1, by, "push stopped");
                if let Some(running) = self.running.remove(&key) {
                    let _ = running.commands.send(Command::Stop);
                    for url in &running.urls {
                        core.push_state(&key.0, &key.1, url, UrlState::Stopped);
                    }
                }
                core.push_ended(&key.0, &key.1);
            }
        }
    }

    /// Passes a worker's report on to the core.
    pub fn report(&mut self, core: &mut core::Server, report: Report) {
        match report {
            Report::State {
                key,
                run,
                url,
                state,
            } => {
                let Some(running) = self.running.get_mut(&key) else {
                    return;
                };
                if running.run != run || !running.urls.contains(&url) {
                    return; // From an earlier run, or a URL already removed.
                }
                let done = state.is_final();
                if done {
                    running.urls.remove(&url);
                }
                let empty = running.urls.is_empty();
                core.push_state(&key.0, &key.1, &url, state);
                if done && empty {
                    self.stop(core, &key);
                }
            }
            Report::Ended { key, run, error } => {
                if self.running.get(&key).is_none_or(|r| r.run != run) {
                    return;
                }
                warn!(channel = key.0, push = key.1, "push ended: {error}");
                if let Some(running) = self.running.get(&key) {
                    for url in running.urls.clone() {
                        let state = failed(FailReason::Internal, error.clone());
                        core.push_state(&key.0, &key.1, &url, state);
                    }
                }
                self.stop(core, &key);
            }
        }
    }

    /// Ends a push the core still knows: its worker stops and its name is free.
    fn stop(&mut self, core: &mut core::Server, key: &Key) {
        if let Some(running) = self.running.remove(key) {
            let _ = running.commands.send(Command::Stop);
        }
        core.push_ended(&key.0, &key.1);
    }

    /// The URLs the allow-list lets through (each only once); the others are reported
    /// failed as not allowed.
    fn allowed(&self, core: &mut core::Server, key: &Key, urls: Vec<String>) -> BTreeSet<String> {
        let mut ok = BTreeSet::new();
        for url in urls {
            match self.ctx.allow.url(&url) {
                Ok(()) => {
                    ok.insert(url);
                }
                Err(why) => {
                    let state = failed(FailReason::NotAllowed, why);
                    core.push_state(&key.0, &key.1, &url, state);
                }
            }
        }
        ok
    }
}

/// A failure as the wire reports it; the message is cut so the event (with the name and the
/// URL beside it) always fits a control frame.
fn failed(reason: FailReason, message: String) -> UrlState {
    UrlState::Failed {
        reason,
        message: message.chars().take(600).collect(),
    }
}
