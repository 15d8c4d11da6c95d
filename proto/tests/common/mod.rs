//! A simulated network on virtual time: one sans-IO server, many sans-IO clients, frames moved
//! by hand so a test decides what is delivered and what is lost.
#![allow(dead_code, clippy::unwrap_used)]

use livestage_proto::client::{Notice, Session};
use livestage_proto::server::{Config, ConnId, Input, Output, Server};
use livestage_proto::token::{self, Claims, Grant};
use livestage_proto::wire::{self, Event, Role};

pub const SECRET: &[u8] = b"test-secret";
pub const CHANNEL: &str = "stage";
/// Virtual time starts here (ms since the Unix epoch).
pub const T0: u64 = 1_800_000_000_000;

pub struct Client {
    pub user: String,
    pub session: Session,
    pub conn: Option<ConnId>,
    pub notices: Vec<Notice>,
}

pub struct Net {
    pub server: Server,
    pub now: u64,
    pub clients: Vec<Client>,
    /// CDN push requests the server passed to its glue: (channel, by, request).
    pub pushes: Vec<(String, String, livestage_proto::push::Request)>,
    /// What the core asked the glue's injects to do: (channel, by, request).
    pub injects: Vec<(String, String, livestage_proto::inject::Request)>,
    /// What the core asked the glue's relays to do: (channel, by, request).
    pub relays: Vec<(String, String, livestage_proto::relay::Request)>,
    next_conn: u64,
}

pub fn grants(list: &str) -> livestage_proto::token::Grants {
    Grant::parse_list(list).unwrap()
}

impl Net {
    pub fn new() -> Self {
        Self::with(Config::default())
    }

    pub fn with(config: Config) -> Self {
        let config = Config {
            secret: SECRET.to_vec(),
            ..config
        };
        Self {
            server: Server::new(config),
            now: T0,
            clients: Vec::new(),
            pushes: Vec::new(),
            injects: Vec::new(),
            relays: Vec::new(),
            next_conn: 1,
        }
    }

    pub fn token(&self, user: &str, grant_list: &str) -> String {
        let claims = Claims::new(
            "livestage",
            CHANNEL,
            user,
            grants(grant_list),
            self.now / 1000,
            3600,
        );
        token::mint(&claims, SECRET).unwrap()
    }

    /// Adds a client with a session and connects it; returns its index.
    pub fn join_with(&mut self, user: &str, session: Session) -> usize {
        self.clients.push(Client {
            user: user.into(),
            session,
            conn: None,
            notices: Vec::new(),
        });
        let i = self.clients.len() - 1;
        self.connect(i);
        i
    }

    pub fn join(&mut self, user: &str, grant_list: &str, role: Role) -> usize {
        let token = self.token(user, grant_list);
        self.join_with(user, Session::new(CHANNEL, &token, role))
    }

    /// A host publishing a camera (with a low layer) and a microphone (once on stage, when
    /// the host cap made it audience).
    pub fn host(&mut self, user: &str) -> usize {
        let i = self.join(
            user,
            "join,publish-audio,publish-video,publish-data",
            Role::Host,
        );
        if self.role(i) != Role::Host {
            return i;
        }
        let camera = livestage_proto::track::Track {
            low_layer: true,
            ..livestage_proto::track::Track::camera()
        };
        self.publish(i, camera);
        self.publish(i, livestage_proto::track::Track::microphone());
        i
    }

    /// Client `i` publishes `track`.
    pub fn publish(&mut self, i: usize, track: livestage_proto::track::Track) {
        self.clients[i].session.publish(track, self.now).unwrap();
        self.run();
    }

    pub fn audience(&mut self, user: &str) -> usize {
        self.join(
            user,
            "join,publish-audio,publish-video,publish-data",
            Role::Audience,
        )
    }

    pub fn moderator(&mut self, user: &str) -> usize {
        self.join(
            user,
            "join,publish-audio,publish-video,publish-data,moderator",
            Role::Host,
        )
    }

    /// Joins `user` on a connection with no client behind it: whatever the server sends it is
    /// dropped and it never acknowledges (a crowd member, or a client that stopped reading).
    pub fn silent(&mut self, user: &str, grant_list: &str, role: Role) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let token = self.token(user, grant_list);
        let hello = Session::new(CHANNEL, &token, role).hello();
        let body = wire::encode(&hello)[4..].to_vec();
        self.server.handle_input(conn, Input::Frame(body), self.now);
        conn
    }

    /// Sends a frame on a silent connection.
    pub fn silent_send(&mut self, conn: ConnId, frame: &wire::ClientFrame) {
        let body = wire::encode(frame)[4..].to_vec();
        self.server.handle_input(conn, Input::Frame(body), self.now);
    }

    /// Opens a new connection for client `i` and sends its hello; then runs the network.
    pub fn connect(&mut self, i: usize) {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let hello = self.clients[i].session.hello();
        self.clients[i].conn = Some(conn);
        let body = wire::encode(&hello)[4..].to_vec();
        self.server.handle_input(conn, Input::Frame(body), self.now);
        self.run();
    }

    /// Sends raw bytes on client `i`'s connection.
    pub fn raw(&mut self, i: usize, input: Input) {
        let conn = self.clients[i].conn.unwrap();
        self.server.handle_input(conn, input, self.now);
        self.run();
    }

    /// Cuts client `i`'s connection: whatever the server has not yet delivered is lost.
    pub fn cut(&mut self, i: usize) {
        if let Some(conn) = self.clients[i].conn.take() {
            self.server.handle_input(conn, Input::Closed, self.now);
        }
        self.clients[i].session.handle_lost();
        self.run();
    }

    /// Client `i` sends what it has queued, but nothing is delivered back yet.
    pub fn client_sends(&mut self, i: usize) {
        let Some(conn) = self.clients[i].conn else {
            return;
        };
        while let Some(frame) = self.clients[i].session.poll_transmit() {
            let body = wire::encode(&frame)[4..].to_vec();
            self.server.handle_input(conn, Input::Frame(body), self.now);
        }
    }

    /// Delivers everything in flight until nothing moves.
    pub fn run(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.clients.len() {
                let before = self.clients[i].session.pending();
                self.client_sends(i);
                moved |= before != self.clients[i].session.pending();
            }
            while let Some(out) = self.server.poll_output() {
                moved = true;
                match out {
                    Output::Send { conn, frame } => {
                        let size = wire::encode(&frame).len();
                        assert!(
                            size <= wire::MAX_FRAME + 4,
                            "the server built a {size}-byte frame, over the limit it enforces"
                        );
                        let Some(c) = self.clients.iter_mut().find(|c| c.conn == Some(conn)) else {
                            continue;
                        };
                        // Round-trip through the wire format, as the real glue does.
                        let frame = wire::decode(&wire::encode(&frame)[4..]).unwrap();
                        c.session.handle_frame(frame, self.now).unwrap();
                    }
                    Output::Close { conn } => {
                        if let Some(c) = self.clients.iter_mut().find(|c| c.conn == Some(conn)) {
                            c.conn = None;
                            c.session.handle_lost();
                        }
                    }
                    Output::Push {
                        channel,
                        by,
                        request,
                    } => {
                        // As the glue does once it has reported the URLs stopped.
                        if let livestage_proto::push::Request::Stop { name } = &request {
                            self.server.push_ended(&channel, name);
                        }
                        self.pushes.push((channel, by, request));
                    }
                    Output::Inject {
                        channel,
                        by,
                        request,
                    } => {
                        if let livestage_proto::inject::Request::Stop { name } = &request {
                            self.server.inject_ended(&channel, name);
                        }
                        self.injects.push((channel, by, request));
                    }
                    Output::Relay {
                        channel,
                        by,
                        request,
                    } => self.relays.push((channel, by, request)),
                }
            }
            for c in &mut self.clients {
                while let Some(n) = c.session.poll_notice() {
                    c.notices.push(n);
                }
            }
            // Acks are transmitted lazily; one more client pass picks them up.
            let acks: bool = self.clients.iter_mut().any(|c| {
                c.conn.is_some() && {
                    let mut any = false;
                    while let Some(frame) = c.session.poll_transmit() {
                        any = true;
                        let body = wire::encode(&frame)[4..].to_vec();
                        self.server
                            .handle_input(c.conn.unwrap(), Input::Frame(body), self.now);
                    }
                    any
                }
            });
            if !moved && !acks {
                break;
            }
        }
    }

    /// Moves virtual time forward in steps of at most 100 ms, running timers.
    pub fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 100).min(end);
            self.server.handle_timeout(self.now);
            for c in &mut self.clients {
                c.session.handle_timeout(self.now);
            }
            self.run();
        }
    }

    pub fn send(&mut self, i: usize, request: livestage_proto::wire::Request) {
        self.clients[i].session.send(request, self.now).unwrap();
        self.run();
    }

    /// Queues a data message on client `i` without running the network.
    pub fn queue(&mut self, i: usize, payload: Vec<u8>) {
        let request = livestage_proto::wire::Request::Data {
            to: vec![],
            payload,
        };
        self.clients[i].session.send(request, self.now).unwrap();
    }

    pub fn data(&mut self, i: usize, payload: &[u8]) {
        self.send(
            i,
            livestage_proto::wire::Request::Data {
                to: vec![],
                payload: payload.to_vec(),
            },
        );
    }

    /// Takes the events client `i` received so far.
    pub fn events(&mut self, i: usize) -> Vec<Event> {
        std::mem::take(&mut self.clients[i].notices)
            .into_iter()
            .filter_map(|n| match n {
                Notice::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// Takes all notices of client `i`.
    pub fn notices(&mut self, i: usize) -> Vec<Notice> {
        std::mem::take(&mut self.clients[i].notices)
    }

    /// Payloads of data messages client `i` received, with sender and sequence number.
    pub fn data_received(&mut self, i: usize) -> Vec<(String, u64, Vec<u8>)> {
        self.events(i)
            .into_iter()
            .filter_map(|e| match e {
                Event::Data {
                    from, seq, payload, ..
                } => Some((from, seq, payload)),
                _ => None,
            })
            .collect()
    }

    pub fn refusals(&mut self, i: usize) -> Vec<livestage_proto::ErrorCode> {
        self.events(i)
            .into_iter()
            .filter_map(|e| match e {
                Event::Refused { error, .. } => Some(error.code),
                _ => None,
            })
            .collect()
    }

    pub fn role(&self, i: usize) -> Role {
        self.clients[i].session.me().unwrap().role
    }

    /// The error the session ended with, if it ended.
    pub fn ended(&self, i: usize) -> Option<livestage_proto::ErrorCode> {
        self.clients[i].notices.iter().find_map(|n| match n {
            Notice::Ended(e) => Some(e.code),
            _ => None,
        })
    }
}
