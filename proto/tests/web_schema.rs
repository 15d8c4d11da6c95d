//! proto/tests/web_schema.rs: the browser client (web/) speaks this crate's control wire format
//! through a codec driven by one schema, `web/schema/wire.json`, traced here from the Rust types
//! with serde-reflection, and proven by golden vectors, `web/schema/golden.json`, that both this
//! test and `npm --prefix web test` check. A change to the wire types fails here until the files
//! are regenerated (`LIVESTAGE_BLESS=1`), so it cannot silently break the browser.
//!
//! Three enums share the serde name `Request` (the control request and the push, inject and
//! relay requests nested in it). serde-reflection keys types by that bare name, and traces a
//! nested `Request` as a reference back to the outer one, so each nested request is traced on
//! its own and filed as `push::Request`, `inject::Request` and `relay::Request`. Names appear
//! in neither postcard nor JSON, so this renaming is invisible on the wire.
//!
//! The vectors' values have the shape serde_json gives the Rust values, except that a
//! `SocketAddr` (a string in JSON, which is human readable) is postcard's enum:
//! `{"V4": [[127, 0, 0, 1], 4433]}`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use livestage_proto::error::{Error, ErrorCode};
use livestage_proto::id::SessionId;
use livestage_proto::media::{Layer, VideoHeader};
use livestage_proto::track::{Kind, Source, Track};
use livestage_proto::wire::{
    self, Action, ClientFrame, DataLimits, Event, Hello, Intent, LeaveReason, Participant,
    PeerLink, Profile, Request, Role, RosterPage, ServerFrame, Welcome,
};
use livestage_proto::{inject, push, relay};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use serde_reflection::{
    ContainerFormat, Format, FormatHolder, Registry, Tracer, TracerConfig, VariantFormat,
};

const REGENERATE: &str = "run `LIVESTAGE_BLESS=1 cargo test -p livestage-proto --test \
     web_schema`, then `npm --prefix web test`, and commit web/schema";

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/schema")
}

// ---------------------------------------------------------------------------------------------
// The schema

/// Traces `T` (every variant, when an enum) into `tracer`.
fn trace<T: DeserializeOwned>(tracer: &mut Tracer) {
    if let Err(e) = tracer.trace_simple_type::<T>() {
        panic!(
            "tracing {}: {}",
            std::any::type_name::<T>(),
            e.explanation()
        );
    }
}

fn finish(tracer: Tracer) -> Registry {
    tracer
        .registry()
        .unwrap_or_else(|e| panic!("{e}: trace the enums it names in `schema()`"))
}

/// The registry of every type that crosses the control stream or heads a video stream. Nested
/// enums are traced before the types that hold them, so that each is traced in full.
fn schema() -> Registry {
    let mut t = Tracer::new(TracerConfig::default());
    trace::<Role>(&mut t);
    trace::<Profile>(&mut t);
    trace::<Layer>(&mut t);
    trace::<LeaveReason>(&mut t);
    trace::<ErrorCode>(&mut t);
    trace::<Kind>(&mut t);
    trace::<Source>(&mut t);
    trace::<SocketAddr>(&mut t);
    trace::<push::Fit>(&mut t);
    trace::<push::FailReason>(&mut t);
    trace::<push::UrlState>(&mut t);
    trace::<relay::State>(&mut t);
    trace::<Action>(&mut t);
    trace::<Intent>(&mut t);
    trace::<Event>(&mut t);
    trace::<Request>(&mut t);
    trace::<ClientFrame>(&mut t);
    trace::<ServerFrame>(&mut t);
    trace::<Hello>(&mut t);
    trace::<VideoHeader>(&mut t);
    let mut registry = finish(t);

    // The nested requests, each in a tracer of its own (see the top of this file).
    let mut nested = |module: &str, trace_it: fn(&mut Tracer)| {
        let mut t = Tracer::new(TracerConfig::default());
        trace_it(&mut t);
        let qualified = format!("{module}::Request");
        for (name, format) in finish(t) {
            let name = if name == "Request" {
                qualified.clone()
            } else {
                name
            };
            match registry.get(&name) {
                Some(known) => assert_eq!(known, &format, "two types are named {name}"),
                None => {
                    registry.insert(name, format);
                }
            }
        }
        let Some(ContainerFormat::Enum(variants)) = registry.get_mut("Request") else {
            panic!("wire::Request is no enum");
        };
        let holder = variants
            .values_mut()
            .find(|v| v.name.eq_ignore_ascii_case(module))
            .unwrap_or_else(|| panic!("no Request::{module} variant"));
        // The main tracer took the nested `Request` for the outer one.
        let outer = VariantFormat::NewType(Box::new(Format::TypeName("Request".into())));
        if holder.value == outer {
            holder.value = VariantFormat::NewType(Box::new(Format::TypeName(qualified)));
        }
    };
    nested("push", |t| {
        trace::<push::Fit>(t);
        trace::<push::Request>(t);
    });
    nested("inject", trace::<inject::Request>);
    nested("relay", |t| {
        trace::<SocketAddr>(t);
        trace::<relay::Request>(t);
    });
    assert_acyclic(&registry);
    registry
}

/// The wire types are not recursive; a cycle in the registry means two types share a serde
/// name and one was traced as a reference to the other.
fn assert_acyclic(registry: &Registry) {
    fn visit<'a>(registry: &'a Registry, name: &'a str, path: &mut Vec<&'a str>) {
        if path.contains(&name) {
            panic!("the schema has a cycle {path:?} -> {name}: two types share a serde name");
        }
        path.push(name);
        let container = &registry[name];
        let mut refs = Vec::new();
        container
            .visit(&mut |f| {
                if let Format::TypeName(n) = f {
                    refs.push(n.as_str());
                }
                Ok(())
            })
            .expect("a traced registry has no variables");
        for n in refs {
            visit(registry, n, path);
        }
        path.pop();
    }
    for name in registry.keys() {
        visit(registry, name, &mut Vec::new());
    }
}

fn schema_text(registry: &Registry) -> String {
    #[derive(Serialize)]
    struct SchemaFile<'a> {
        version: u16,
        max_frame: usize,
        types: &'a Registry,
    }
    let file = SchemaFile {
        version: wire::VERSION,
        max_frame: wire::MAX_FRAME,
        types: registry,
    };
    serde_json::to_string_pretty(&file).expect("the schema serializes") + "\n"
}

// ---------------------------------------------------------------------------------------------
// Reading postcard by the schema alone

/// Reads postcard bytes with nothing but the registry (as web/src/codec.ts does) into the value
/// shape serde_json uses, noting each enum variant it meets.
struct Reader<'a> {
    registry: &'a Registry,
    bytes: &'a [u8],
    seen: &'a mut BTreeSet<(String, String)>,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(n <= self.bytes.len(), "the schema reads past the end");
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        head
    }

    fn byte(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn varint(&mut self) -> u64 {
        let mut n = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte();
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return n;
            }
        }
        panic!("varint longer than 10 bytes")
    }

    fn len(&mut self) -> usize {
        usize::try_from(self.varint()).expect("length fits usize")
    }

    fn zigzag(&mut self) -> i64 {
        let n = self.varint();
        (n >> 1) as i64 ^ -((n & 1) as i64)
    }

    fn read(&mut self, format: &Format) -> Json {
        match format {
            Format::TypeName(name) => self.container(name),
            Format::Unit => Json::Null,
            Format::Bool => match self.byte() {
                0 => false.into(),
                1 => true.into(),
                b => panic!("bool byte {b}"),
            },
            Format::U8 => self.byte().into(),
            Format::I8 => (self.byte() as i8).into(),
            Format::U16 | Format::U32 | Format::U64 => self.varint().into(),
            Format::I16 | Format::I32 | Format::I64 => self.zigzag().into(),
            Format::Str => {
                let n = self.len();
                String::from_utf8(self.take(n).to_vec())
                    .expect("UTF-8")
                    .into()
            }
            Format::Option(inner) => match self.byte() {
                0 => Json::Null,
                1 => self.read(inner),
                b => panic!("option tag {b}"),
            },
            Format::Seq(item) => {
                let n = self.len();
                (0..n).map(|_| self.read(item)).collect()
            }
            Format::Tuple(items) => items.iter().map(|f| self.read(f)).collect(),
            Format::TupleArray { content, size } => {
                (0..*size).map(|_| self.read(content)).collect()
            }
            other => panic!("no wire type uses {other:?} yet; teach this reader and codec.ts"),
        }
    }

    fn fields(&mut self, fields: &[serde_reflection::Named<Format>]) -> Json {
        let object = fields.iter().map(|f| (f.name.clone(), self.read(&f.value)));
        Json::Object(object.collect())
    }

    fn container(&mut self, name: &str) -> Json {
        let registry = self.registry;
        match &registry[name] {
            ContainerFormat::UnitStruct => Json::Null,
            ContainerFormat::NewTypeStruct(inner) => self.read(inner),
            ContainerFormat::TupleStruct(items) => items.iter().map(|f| self.read(f)).collect(),
            ContainerFormat::Struct(fields) => self.fields(fields),
            ContainerFormat::Enum(variants) => {
                let index = u32::try_from(self.varint()).expect("variant index fits u32");
                let variant = variants
                    .get(&index)
                    .unwrap_or_else(|| panic!("{name} has no variant {index}"));
                self.seen.insert((name.to_owned(), variant.name.clone()));
                let content = match &variant.value {
                    VariantFormat::Unit => return Json::String(variant.name.clone()),
                    VariantFormat::NewType(inner) => self.read(inner),
                    VariantFormat::Tuple(items) => items.iter().map(|f| self.read(f)).collect(),
                    VariantFormat::Struct(fields) => self.fields(fields),
                    VariantFormat::Variable(_) => {
                        unreachable!("a traced registry has no variables")
                    }
                };
                Json::Object([(variant.name.clone(), content)].into_iter().collect())
            }
        }
    }
}

/// A postcard `SocketAddr` as the schema reads it: `{"V4": [[a, b, c, d], port]}`.
fn socket_addr(json: &Json) -> Option<SocketAddr> {
    let (tag, body) = json.as_object()?.iter().next()?;
    let [ip, port] = body.as_array()?.as_slice() else {
        return None;
    };
    let octets = ip
        .as_array()?
        .iter()
        .map(|b| u8::try_from(b.as_u64()?).ok());
    let octets: Vec<u8> = octets.collect::<Option<_>>()?;
    let ip: IpAddr = match tag.as_str() {
        "V4" => <[u8; 4]>::try_from(octets).ok()?.into(),
        "V6" => <[u8; 16]>::try_from(octets).ok()?.into(),
        _ => return None,
    };
    Some(SocketAddr::new(ip, u16::try_from(port.as_u64()?).ok()?))
}

/// Whether the schema's reading equals serde_json's value, a socket address being postcard's
/// enum in one and a string in the other.
fn same_value(schema: &Json, json: &Json) -> bool {
    match (schema, json) {
        (Json::Object(_), Json::String(s)) => {
            socket_addr(schema).is_some_and(|a| s.parse::<SocketAddr>() == Ok(a))
        }
        (Json::Object(a), Json::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_value(v, w)))
        }
        (Json::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| same_value(v, w))
        }
        _ => schema == json,
    }
}

// ---------------------------------------------------------------------------------------------
// Golden vectors

/// One vector, checked against the Rust value it came from.
fn vector<T>(
    registry: &Registry,
    seen: &mut BTreeSet<(String, String)>,
    type_name: &str,
    value: &T,
) -> Vector
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = postcard::to_stdvec(value).expect("postcard serializes the wire types");
    let back: T = wire::decode(&bytes).expect("a vector decodes");
    assert_eq!(&back, value, "{type_name} does not survive postcard");
    let mut reader = Reader {
        registry,
        bytes: &bytes,
        seen,
    };
    let json = reader.read(&Format::TypeName(type_name.to_owned()));
    assert!(
        reader.bytes.is_empty(),
        "the schema leaves bytes of {value:?}"
    );
    let serde_json = serde_json::to_value(value).expect("the wire types serialize to JSON");
    assert!(
        same_value(&json, &serde_json),
        "the schema reads {value:?} as {json} but serde_json writes {serde_json}"
    );
    let mut hex = String::new();
    for b in &bytes {
        write!(hex, "{b:02x}").expect("writing to a String");
    }
    Vector {
        type_name: type_name.to_owned(),
        value: json,
        hex,
    }
}

/// One entry of golden.json.
#[derive(Serialize)]
struct Vector {
    /// The registry's name of the type.
    #[serde(rename = "type")]
    type_name: String,
    /// The value, as the schema reads it.
    value: Json,
    /// Its postcard bytes, lowercase hex.
    hex: String,
}

fn participant(user: &str, role: Role, tracks: Vec<Track>) -> Participant {
    Participant {
        user: user.into(),
        role,
        moderator: role == Role::Host,
        audio_muted: false,
        video_muted: true,
        hand_raised: role == Role::Audience,
        media_id: 300,
        tracks,
    }
}

fn tracks() -> Vec<Track> {
    let mut music = Track::new(5, Kind::Audio, Source::Music);
    music.name = "Bühne ♫".into();
    let mut custom = Track::new(6, Kind::Video, Source::Custom);
    custom.name = "Rules card".into();
    custom.low_layer = true;
    custom.muted = true;
    let inject = Track::new(15, Kind::Video, Source::Inject);
    vec![
        Track::camera(),
        Track::microphone(),
        Track::screen(),
        music,
        custom,
        inject,
    ]
}

fn error(code: ErrorCode) -> Error {
    Error::new(code, format!("{code}: café ☕ 拒绝"))
}

const ERROR_CODES: [ErrorCode; 19] = [
    ErrorCode::TokenInvalid,
    ErrorCode::TokenExpired,
    ErrorCode::NotPermitted,
    ErrorCode::TooManyHosts,
    ErrorCode::MessageTooLarge,
    ErrorCode::RateLimited,
    ErrorCode::Kicked,
    ErrorCode::Replaced,
    ErrorCode::ServerUnreachable,
    ErrorCode::ProtocolError,
    ErrorCode::UnknownUser,
    ErrorCode::Overloaded,
    ErrorCode::SessionExpired,
    ErrorCode::InvalidInput,
    ErrorCode::UnknownTrack,
    ErrorCode::TooManyTracks,
    ErrorCode::ScreenUnavailable,
    ErrorCode::SourceEnded,
    ErrorCode::CameraUnavailable,
];

/// A 64-bit value above 2^53, which a JavaScript number cannot hold.
const BIG: u64 = 0x9e37_79b9_7f4a_7c15;

fn hellos() -> Vec<Hello> {
    let join = |role| Intent::Join {
        channel: "lobby".into(),
        token: "eyJhbGciOiJIUzI1NiJ9.e30.c2ln".into(),
        role,
    };
    let resume = Intent::Resume {
        session: SessionId(u64::MAX),
        key: BIG,
        received: 300,
    };
    [join(Role::Host), join(Role::Audience), resume]
        .into_iter()
        .map(|intent| Hello {
            version: wire::VERSION,
            intent,
        })
        .collect()
}

fn layout() -> push::Layout {
    push::Layout {
        width: 1920,
        height: 1080,
        fps: 60,
        bitrate_kbps: 20_000,
        gop: 120,
        background: [0x10, 0x20, 0xff],
        background_image: Some(push::Png(b"\x89PNG\r\n\x1a\n".to_vec())),
        users: vec![
            push::Region {
                user: "alice".into(),
                rect: push::Rect {
                    x: 0,
                    y: 0,
                    width: 960,
                    height: 1080,
                },
                z: -1,
                alpha: 255,
                fit: push::Fit::Crop,
            },
            push::Region {
                user: "bob".into(),
                rect: push::Rect {
                    x: 960,
                    y: 540,
                    width: 960,
                    height: 540,
                },
                z: 70_000,
                alpha: 128,
                fit: push::Fit::Fit,
            },
        ],
        watermark: Some(push::Image {
            png: push::Png(vec![0x89, b'P', b'N', b'G']),
            rect: push::Rect::default(),
        }),
        audio: push::Audio {
            sample_rate: 44_100,
            bitrate_kbps: 96,
            channels: 1,
            users: Some(vec!["alice".into()]),
        },
    }
}

fn targets() -> Vec<relay::Target> {
    let remote = |addr: &str| relay::Remote {
        addr: addr.parse().expect("a socket address"),
        pin: std::array::from_fn(|i| (i * 8) as u8),
    };
    vec![
        relay::Target {
            channel: "arena".into(),
            server: None,
        },
        relay::Target {
            channel: "arena-eu".into(),
            server: Some(remote("203.0.113.7:4433")),
        },
        relay::Target {
            channel: "arena-us".into(),
            server: Some(remote("[2001:db8::1]:65535")),
        },
    ]
}

fn requests() -> Vec<Request> {
    let actions = [
        Action::Promote("bob".into()),
        Action::Demote("bob".into()),
        Action::Mute {
            user: "bob".into(),
            audio: Some(true),
            video: None,
        },
        Action::Mute {
            user: "bob".into(),
            audio: None,
            video: Some(false),
        },
        Action::MuteTrack {
            user: "bob".into(),
            track: 2,
            muted: true,
        },
        Action::Kick {
            user: "mallory".into(),
            until: None,
        },
        Action::Kick {
            user: "mallory".into(),
            until: Some(1_800_000_000),
        },
        Action::Unban("mallory".into()),
        Action::SetHearing {
            listener: "carol".into(),
            hears: None,
        },
        Action::SetHearing {
            listener: "carol".into(),
            hears: Some(vec![]),
        },
        Action::SetHearing {
            listener: "carol".into(),
            hears: Some(vec!["alice".into(), "bob".into()]),
        },
    ];
    let pushes = [
        push::Request::Start {
            name: "youtube".into(),
            urls: vec!["rtmp://a.example/live/key".into()],
            layout: layout(),
        },
        push::Request::Update {
            name: "youtube".into(),
            layout: None,
            add: vec!["rtmp://b.example/live/key".into()],
            remove: vec![],
        },
        push::Request::Update {
            name: "youtube".into(),
            layout: Some(push::Layout::default()),
            add: vec![],
            remove: vec!["rtmp://a.example/live/key".into()],
        },
        push::Request::Stop {
            name: "youtube".into(),
        },
    ];
    let injects = [
        inject::Request::Start {
            name: "intro".into(),
            source: "/srv/media/intro.mp4".into(),
            options: inject::Options::default(),
        },
        inject::Request::Start {
            name: "feed".into(),
            source: "rtmp://feed.example/live/x".into(),
            options: inject::Options {
                volume: 40,
                looped: true,
                size: Some((1280, 720)),
                fps: Some(30),
            },
        },
        inject::Request::Update {
            name: "feed".into(),
            volume: 0,
        },
        inject::Request::Stop {
            name: "feed".into(),
        },
    ];
    let destinations: Vec<relay::Destination> = targets()
        .into_iter()
        .map(|target| relay::Destination {
            target,
            token: "eyJ.e30.sig".into(),
        })
        .collect();
    let relays = [
        relay::Request::Start {
            destinations: destinations.clone(),
        },
        relay::Request::Update {
            add: destinations[1..].to_vec(),
            remove: targets()[..1].to_vec(),
        },
        relay::Request::Pause,
        relay::Request::Resume,
        relay::Request::Stop,
    ];
    let mut out = vec![
        Request::Leave,
        Request::SetRole(Role::Host),
        Request::SetRole(Role::Audience),
        Request::Data {
            to: vec![],
            payload: vec![],
        },
        Request::Data {
            to: vec!["bob".into(), "carol".into()],
            payload: (0..=255).collect(),
        },
        Request::RenewToken("eyJhbGciOiJIUzI1NiJ9.e30.bmV3".into()),
        Request::Subscribe {
            user: "alice".into(),
            track: None,
            audio: true,
            video: Some(Layer::High),
        },
        Request::Subscribe {
            user: "alice".into(),
            track: Some(2),
            audio: false,
            video: Some(Layer::Low),
        },
        Request::Subscribe {
            user: "alice".into(),
            track: Some(1),
            audio: true,
            video: None,
        },
        Request::Unpublish(2),
        Request::RequestKeyframe {
            media_id: BIG,
            track: 0,
            layer: Layer::Low,
        },
        Request::RaiseHand(true),
        Request::RaiseHand(false),
    ];
    out.extend(actions.into_iter().map(Request::Moderate));
    out.extend(tracks().into_iter().map(Request::Publish));
    out.extend(pushes.into_iter().map(|r| Request::Push(Box::new(r))));
    out.extend(injects.into_iter().map(|r| Request::Inject(Box::new(r))));
    out.extend(relays.into_iter().map(|r| Request::Relay(Box::new(r))));
    out
}

fn client_frames() -> Vec<ClientFrame> {
    let mut out: Vec<ClientFrame> = requests()
        .into_iter()
        .zip(1..)
        .map(|(request, seq)| ClientFrame::Request {
            seq: seq * 7,
            request,
        })
        .collect();
    out.extend([
        ClientFrame::Ack { upto: 0 },
        ClientFrame::Ack { upto: u64::MAX },
        ClientFrame::Link {
            uplink_loss_percent: 100,
        },
    ]);
    out
}

fn events() -> Vec<Event> {
    let alice = || participant("alice", Role::Host, tracks());
    let carol = || participant("carol", Role::Audience, vec![]);
    let leave_reasons = [
        LeaveReason::Left,
        LeaveReason::Offline,
        LeaveReason::Kicked,
        LeaveReason::Replaced,
        LeaveReason::Expired,
        LeaveReason::Dropped,
    ];
    let fail_reasons = [
        push::FailReason::BadUrl,
        push::FailReason::NotAllowed,
        push::FailReason::Refused,
        push::FailReason::Unreachable,
        push::FailReason::Internal,
        push::FailReason::NotFound,
        push::FailReason::Unsupported,
    ];
    let mut url_states = vec![
        push::UrlState::Connecting,
        push::UrlState::Running,
        push::UrlState::Recovering {
            attempt: 3,
            reason: "connection reset — retrying".into(),
        },
        push::UrlState::Stopped,
    ];
    url_states.extend(fail_reasons.map(|reason| push::UrlState::Failed {
        reason,
        message: reason.as_str().into(),
    }));
    let relay_states = [
        relay::State::Connecting,
        relay::State::Running,
        relay::State::Paused,
        relay::State::Recovering {
            attempt: 1_000,
            reason: "server unreachable".into(),
        },
        relay::State::Failed(error(ErrorCode::TooManyHosts)),
        relay::State::Stopped,
    ];
    let mut out = vec![
        Event::PeerJoined(alice()),
        Event::RoleChanged {
            participant: carol(),
            by: "alice".into(),
        },
        Event::Audience { count: 70_000 },
        Event::MuteChanged {
            user: "alice".into(),
            audio: true,
            video: false,
        },
        Event::HandChanged {
            participant: carol(),
        },
        Event::TrackPublished {
            user: "alice".into(),
            track: tracks()[4].clone(),
        },
        Event::TrackUnpublished {
            user: "alice".into(),
            track: 15,
        },
        Event::HearingChanged { hears: None },
        Event::HearingChanged {
            hears: Some(vec!["alice".into()]),
        },
        Event::Data {
            from: "bob".into(),
            seq: 1,
            private: true,
            payload: "hé ✓".as_bytes().to_vec(),
        },
        Event::Refused {
            request: 16_384,
            error: error(ErrorCode::RateLimited),
        },
        Event::TokenExpiring { remaining_secs: 60 },
        Event::LayerChanged {
            media_id: BIG,
            track: 0,
            layer: Layer::Low,
        },
        Event::KeyframeRequest {
            track: 2,
            layer: Layer::High,
        },
        Event::TokenRenewed {
            expires: 1_800_003_600,
        },
        Event::Inject {
            name: "feed".into(),
            state: push::UrlState::Running,
        },
    ];
    out.extend(leave_reasons.map(|reason| Event::PeerLeft {
        user: "bob".into(),
        reason,
    }));
    out.extend(url_states.into_iter().map(|state| Event::Push {
        name: "youtube".into(),
        url: "rtmp://a.example/live/key".into(),
        state,
    }));
    out.extend(
        targets()
            .into_iter()
            .cycle()
            .zip(relay_states)
            .map(|(to, state)| Event::Relay { to, state }),
    );
    out
}

fn server_frames() -> Vec<ServerFrame> {
    let welcome = |profile, roster| Welcome {
        session: SessionId(42),
        key: BIG,
        channel: "lobby".into(),
        profile,
        you: participant("carol", Role::Audience, vec![]),
        roster,
        audience: 1,
        received: 0,
        token_expires: 1_800_000_000,
        limits: DataLimits::default(),
        resume_secs: 30,
    };
    let mut out = vec![
        ServerFrame::Welcome(Box::new(welcome(
            Profile::LiveBroadcast,
            RosterPage {
                start: true,
                peers: vec![participant("alice", Role::Host, tracks())],
                more: true,
            },
        ))),
        ServerFrame::Welcome(Box::new(welcome(
            Profile::Communication,
            RosterPage::default(),
        ))),
        ServerFrame::Ack { upto: 128 },
        ServerFrame::Roster(RosterPage {
            start: false,
            peers: vec![
                participant("bob", Role::Host, vec![Track::camera()]),
                participant("carol", Role::Audience, vec![]),
            ],
            more: false,
        }),
        ServerFrame::Links(vec![]),
        ServerFrame::Links(vec![
            PeerLink {
                user: "carol".into(),
                rtt_ms: 35,
                uplink_loss_percent: 0,
                downlink_loss_percent: 2,
            },
            PeerLink {
                user: "alice".into(),
                rtt_ms: 200_000,
                uplink_loss_percent: 100,
                downlink_loss_percent: 100,
            },
        ]),
    ];
    out.extend(
        events()
            .into_iter()
            .zip(1u64..)
            .map(|(event, seq)| ServerFrame::Event {
                seq: seq.pow(3),
                event,
            }),
    );
    out.extend(ERROR_CODES.map(|code| ServerFrame::Goodbye(error(code))));
    out
}

fn video_headers() -> Vec<VideoHeader> {
    vec![
        VideoHeader {
            media_id: 0,
            track: 0,
            layer: Layer::High,
            stream: 0,
            frame: 0,
            keyframe: true,
            capture_us: 0,
        },
        VideoHeader {
            media_id: BIG,
            track: 2,
            layer: Layer::Low,
            stream: u32::MAX,
            frame: 1 << 40,
            keyframe: false,
            capture_us: 1_800_000_000_123_456,
        },
    ]
}

/// The golden vectors, each checked against its Rust value, and the enum variants they cover.
fn golden(registry: &Registry) -> (Vec<Vector>, BTreeSet<(String, String)>) {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for v in hellos() {
        out.push(vector(registry, &mut seen, "Hello", &v));
    }
    for v in client_frames() {
        out.push(vector(registry, &mut seen, "ClientFrame", &v));
    }
    for v in server_frames() {
        out.push(vector(registry, &mut seen, "ServerFrame", &v));
    }
    for v in video_headers() {
        out.push(vector(registry, &mut seen, "VideoHeader", &v));
    }
    (out, seen)
}

fn enum_variants(registry: &Registry) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (name, container) in registry {
        if let ContainerFormat::Enum(variants) = container {
            out.extend(variants.values().map(|v| (name.clone(), v.name.clone())));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn golden_vectors_cover_every_variant() {
    let registry = schema();
    let (vectors, seen) = golden(&registry);
    let missing: Vec<String> = enum_variants(&registry)
        .difference(&seen)
        .map(|(e, v)| format!("{e}::{v}"))
        .collect();
    assert!(
        missing.is_empty(),
        "no golden vector holds {missing:?}: add one to the samples in this test, then {REGENERATE}"
    );
    assert!(vectors.len() > 100);
}

#[test]
fn web_schema_files_are_current() {
    let registry = schema();
    let (vectors, _) = golden(&registry);
    // One vector a line, so that a change shows as the vectors it touches.
    let lines: Vec<String> = vectors
        .iter()
        .map(|v| serde_json::to_string(v).expect("JSON"))
        .collect();
    let golden_text = format!("[\n{}\n]\n", lines.join(",\n"));
    let files = BTreeMap::from([
        ("wire.json", schema_text(&registry)),
        ("golden.json", golden_text),
    ]);
    let dir = schema_dir();
    if std::env::var_os("LIVESTAGE_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).expect("creating web/schema");
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).expect("writing web/schema");
        }
        return;
    }
    for (name, text) in &files {
        let Ok(committed) = std::fs::read_to_string(dir.join(name)) else {
            panic!("web/schema/{name} is missing: the wire format changed: {REGENERATE}");
        };
        if committed != *text {
            let line = committed
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .map_or(committed.lines().count().min(text.lines().count()), |i| i)
                + 1;
            panic!(
                "web/schema/{name} differs from line {line}: the wire format changed: {REGENERATE}"
            );
        }
    }
}
