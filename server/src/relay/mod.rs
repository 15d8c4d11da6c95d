//! Relays across channels, the glue side: acts on the core's
//! [`Output::Relay`](core::Output::Relay), runs one thread per relaying host and passes each
//! destination's state back to the core, which tells the host.
//!
//! Data flow of one relay ([`worker`]): one engine joins the host's own channel over loopback
//! QUIC as the audience member `relay-<host>`, receiving only the host's tracks, and joins each
//! destination as the host itself with the destination's token (this server over loopback, or
//! another `livestage serve` pinned by its certificate). Each encoded frame from the host is
//! sent on, unchanged, into every running destination; a keyframe asked for in a destination
//! is asked of the host at home. Both ends are ordinary participants, so the forwarding path,
//! the host cap, moderators and hearing sets treat the relay like anyone.
//!
//! The manager lives in the core task and never blocks it: starting a relay spawns its thread,
//! the rest only signals it.

mod worker;

use std::collections::HashMap;

use crossbeam_channel::Sender;
use livestage_proto::ErrorCode;
use livestage_proto::relay::{self, Destination, State, Target};
use livestage_proto::server as core;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::allow::Allow;
use crate::push::Context;

/// A relay: (the host's channel, the host).
pub type Key = (String, String);

/// A worker's news.
#[derive(Debug)]
pub struct Report {
    key: Key,
    run: u64,
    news: News,
}

#[derive(Debug)]
enum News {
    /// A destination changed state.
    State(Target, State),
    /// The worker is done: every destination reached a final state.
    Ended,
}

/// What the manager asks of a running worker.
#[derive(Debug)]
enum Command {
    Add(Vec<Destination>),
    Remove(Vec<Target>),
    Pause(bool),
    Stop,
}

/// Everything one relay needs to start.
struct Job {
    ctx: Context,
    key: Key,
    run: u64,
}

struct Running {
    run: u64,
    commands: Sender<Command>,
}

/// Every relay of the server.
pub struct Relays {
    ctx: Context,
    /// Which other servers a relay may connect to (`livestage://ADDR` entries).
    allow: Allow,
    running: HashMap<Key, Running>,
    reports: mpsc::UnboundedSender<Report>,
    next_run: u64,
}

impl Relays {
    /// No relays yet; other servers must be on `allow`. Workers report on the returned
    /// receiver (feed it to [`Relays::report`]).
    pub fn new(ctx: Context, allow: Allow) -> (Self, mpsc::UnboundedReceiver<Report>) {
        let (reports, rx) = mpsc::unbounded_channel();
        let relays = Self {
            ctx,
            allow,
            running: HashMap::new(),
            reports,
            next_run: 1,
        };
        (relays, rx)
    }

    /// Acts on a checked request from the core.
    pub fn handle(
        &mut self,
        core: &mut core::Server,
        channel: String,
        by: String,
        request: relay::Request,
    ) {
        let key = (channel, by);
        match request {
            relay::Request::Start { destinations } => {
                if let Some(old) = self.running.remove(&key) {
                    // Ending by itself; its reports no longer count.
                    let _ = old.commands.send(Command::Stop);
                }
                let destinations = self.allowed(core, &key, destinations);
                let run = self.next_run;
                self.next_run += 1;
                let (commands, inbox) = crossbeam_channel::unbounded();
                let _ = commands.send(Command::Add(destinations));
                let job = Job {
                    ctx: self.ctx.clone(),
                    key: key.clone(),
                    run,
                };
                if let Err(e) = worker::spawn(job, inbox, self.reports.clone()) {
                    warn!(channel = key.0, host = key.1, "cannot start a relay: {e}");
                    let message = format!("the server cannot start a relay: {e}");
                    for target in core.relay_targets(&key.0, &key.1) {
                        let state = State::failed(ErrorCode::ServerUnreachable, message.clone());
                        core.relay_state(&key.0, &key.1, &target, state);
                    }
                    return;
                }
                info!(channel = key.0, host = key.1, "relay started");
                self.running.insert(key, Running { run, commands });
            }
            relay::Request::Update { add, remove } => {
                let add = self.allowed(core, &key, add);
                self.command(&key, Command::Remove(remove));
                self.command(&key, Command::Add(add));
            }
            relay::Request::Pause => self.command(&key, Command::Pause(true)),
            relay::Request::Resume => self.command(&key, Command::Pause(false)),
            relay::Request::Stop => {
                info!(channel = key.0, host = key.1, "relay stopped");
                // The worker reports every destination stopped, then ends.
                self.command(&key, Command::Stop);
            }
        }
    }

    /// Passes a worker's news on to the core.
    pub fn report(&mut self, core: &mut core::Server, report: Report) {
        let Report { key, run, news } = report;
        if self.running.get(&key).is_none_or(|r| r.run != run) {
            return; // From an earlier run.
        }
        match news {
            News::State(target, state) => {
                if let State::Failed(e) = &state {
                    warn!(channel = key.0, host = key.1, to = %target, "relay destination failed: {e}");
                }
                core.relay_state(&key.0, &key.1, &target, state);
            }
            News::Ended => {
                self.running.remove(&key);
            }
        }
    }

    fn command(&self, key: &Key, command: Command) {
        if let Some(running) = self.running.get(key) {
            let _ = running.commands.send(command);
        }
    }

    /// The destinations this server may connect to; the others fail at once.
    fn allowed(
        &self,
        core: &mut core::Server,
        key: &Key,
        destinations: Vec<Destination>,
    ) -> Vec<Destination> {
        destinations
            .into_iter()
            .filter(|d| {
                let Some(remote) = &d.target.server else {
                    return true;
                };
                match self.allow.url(&format!("livestage://{}", remote.addr)) {
                    Ok(()) => true,
                    Err(why) => {
                        let state = State::failed(ErrorCode::NotPermitted, why);
                        core.relay_state(&key.0, &key.1, &d.target, state);
                        false
                    }
                }
            })
            .collect()
    }
}
