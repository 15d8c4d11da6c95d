//! The samples of the `web_schema` test (see main.rs): Rust values of the wire types, chosen to
//! hold every enum variant and the edge cases a codec gets wrong (64-bit integers above 2^53,
//! non-ASCII text, empty and full byte strings, IPv4 and IPv6 addresses). Each becomes a golden
//! vector in web/schema/golden.json.

use livestage_proto::error::{Error, ErrorCode};
use livestage_proto::id::SessionId;
use livestage_proto::media::{Layer, VideoHeader};
use livestage_proto::track::{Kind, Source, Track};
use livestage_proto::wire::{
    self, Action, ClientFrame, DataLimits, Event, Hello, Intent, LeaveReason, Participant,
    PeerLink, Profile, Request, Role, RosterPage, ServerFrame, Welcome,
};
use livestage_proto::{inject, push, relay};

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

pub(crate) fn hellos() -> Vec<Hello> {
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

pub(crate) fn client_frames() -> Vec<ClientFrame> {
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

pub(crate) fn server_frames() -> Vec<ServerFrame> {
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

pub(crate) fn video_headers() -> Vec<VideoHeader> {
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
