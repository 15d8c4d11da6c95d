//! The engine's lifecycle and requests: create and free, join and leave, role, raised hands,
//! data, tokens, subscriptions, moderator actions and volume.
//!
//! A request is checked here (joined channel, valid ids, sizes) and then queued for the
//! engine; what the server makes of it arrives later as events (`refused`, `role_changed`...).

use std::ffi::c_char;
use std::net::{SocketAddr, ToSocketAddrs};

use livestage_net::JoinOptions;
use livestage_net::transport;
use livestage_proto::token;
use livestage_proto::wire::{self, Action};

use crate::args;
use crate::audio::SAMPLE_RATES;
use crate::client::{Client, Output};
use crate::error::{Error, Result, guard, write_text};
use crate::{gate, handles};

/// Play remote voice on the system's output device (or the null device when there is none)
/// instead of handing it to `livestage_audio_read`.
pub const LIVESTAGE_PLAY_ON_DEVICE: u32 = 1;

/// Starts an engine and returns its handle (positive), or a negative error code.
///
/// Remote voice is mixed for `livestage_audio_read` at
/// `sample_rate` Hz (8000 to 192000; 0 for 48000) with `channels` interleaved channels (1 or
/// 2; 0 for 2), e.g. Unity's `AudioSettings.outputSampleRate` and its speaker mode. `flags`:
/// `LIVESTAGE_PLAY_ON_DEVICE`. One engine may join many channels.
///
/// Main thread. Starts background threads; free the engine with `livestage_engine_free`.
#[unsafe(no_mangle)]
pub extern "C" fn livestage_engine_new(sample_rate: u32, channels: u32, flags: u32) -> i64 {
    guard(|| {
        let sample_rate = if sample_rate == 0 {
            48_000
        } else {
            sample_rate
        };
        let channels = if channels == 0 { 2 } else { channels };
        if !SAMPLE_RATES.contains(&sample_rate) || !(1..=2).contains(&channels) {
            return Err(Error::argument(format!(
                "{sample_rate} Hz x {channels} channels: use 8000 to 192000 Hz and 1 or 2 channels"
            )));
        }
        if flags & !LIVESTAGE_PLAY_ON_DEVICE != 0 {
            return Err(Error::argument(format!("unknown flags {flags:#x}")));
        }
        let output = if flags & LIVESTAGE_PLAY_ON_DEVICE != 0 {
            Output::Device
        } else {
            Output::Caller {
                sample_rate,
                channels: channels as u16,
            }
        };
        handles::insert(Client::start(output)?)
    })
}

/// Leaves every channel (waiting up to 0.8 s for the server to confirm), stops the engine's
/// threads and invalidates the handle. Later calls with it fail with
/// `LIVESTAGE_ERR_HANDLE`.
///
/// Main thread; blocks up to about 2 s. Never from the audio thread: stop audio first (a
/// read in flight is waited for, later reads fail cleanly). Hooks are removed first (a call in
/// flight is waited for); `LIVESTAGE_ERR_STATE` from inside a hook.
#[unsafe(no_mangle)]
pub extern "C" fn livestage_engine_free(engine: i64) -> i32 {
    guard(|| {
        gate::not_in_hook("livestage_engine_free")?;
        handles::remove(engine).map(|()| 0)
    })
}

/// Where the server is: `ip:port`, or `host:port` resolved now (blocking DNS).
fn server_address(text: &str) -> Result<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    text.to_socket_addrs()
        .map_err(|e| Error::argument(format!("server {text:?} is not host:port: {e}")))?
        .next()
        .ok_or_else(|| Error::argument(format!("server {text:?} has no address")))
}

/// Joins a channel; progress arrives as events (`state`, then `joined` or a `disconnected`
/// state with the error). Joining a channel already joined replaces that membership.
///
/// - `server`: `ip:port` or `host:port` of the server (UDP).
/// - `cert`: the server certificate (or its CA) as PEM text, or its SHA-256 fingerprint as
///   `sha256:` and 64 hex digits (colons between bytes allowed), e.g. from
///   `livestage_cert_fingerprint`; a pinned fingerprint trusts exactly that certificate.
/// - `token`: the access token.
/// - `channel`: the channel, or null for the one the token is bound to.
/// - `role`: `LIVESTAGE_ROLE_HOST` or `LIVESTAGE_ROLE_AUDIENCE`.
/// - `server_name`: the name in the certificate, or null for `localhost` (the dev server's).
///
/// Main thread (any thread but the audio thread); does not wait for the network.
///
/// # Safety
///
/// Every string must be null (where allowed) or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_join(
    engine: i64,
    server: *const c_char,
    cert: *const c_char,
    token: *const c_char,
    channel: *const c_char,
    role: i32,
    server_name: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: every string is null or NUL-terminated (the caller's contract).
        let (server, cert, token, channel, server_name) = unsafe {
            (
                args::text(server, "server")?,
                args::text(cert, "cert")?,
                args::text(token, "token")?,
                args::optional_text(channel, "channel")?,
                args::optional_text(server_name, "server_name")?,
            )
        };
        let role = args::role(role)?;
        let channel = match channel {
            Some(c) => c.to_owned(),
            None => {
                token::peek(token)
                    .map_err(|e| Error::argument(format!("token: {}", e.message)))?
                    .ch
            }
        };
        args::id("channel", &channel)?;
        let server = server_address(server)?;
        // Check the trust material now, so a typo is an error here and not a timeout later.
        transport::client_config(cert.as_bytes())
            .map_err(|e| Error::argument(format!("cert: {e:#}")))?;
        let mut options = JoinOptions::new(server, cert.as_bytes(), &channel, token, role);
        if let Some(name) = server_name {
            options.server_name = name.to_owned();
        }
        handles::with(engine, |client| {
            client.joined(&channel);
            client.engine.join(options);
            Ok(0)
        })
    })
}

/// Leaves a channel: its publishers stop, and later calls on it fail with
/// `LIVESTAGE_ERR_NOT_JOINED` until it is joined again.
/// A `disconnected` state event follows.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_leave(engine: i64, channel: *const c_char) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        handles::with(engine, |client| {
            let old = client.left(channel)?;
            client.engine.leave(channel);
            drop(old);
            Ok(0)
        })
    })
}

/// Runs `request` on the engine for a joined `channel`.
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
pub(crate) unsafe fn request(
    engine: i64,
    channel: *const c_char,
    request: impl FnOnce(&Client, &str) -> Result<()>,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        handles::with(engine, |client| {
            client.channel(channel, |_| ())?;
            request(client, channel)?;
            Ok(0)
        })
    })
}

/// Asks to become host (`LIVESTAGE_ROLE_HOST`) or audience; a `role_changed` event or a
/// `refused` one answers.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_set_role(engine: i64, channel: *const c_char, role: i32) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            client.engine.set_role(channel, args::role(role)?);
            Ok(())
        })
    }
}

/// Raises (`raised` 1) or lowers (`raised` 0) this client's hand in `channel`, asking the
/// moderators to invite it on stage. Only the audience may raise a hand: a host gets a
/// `refused` event with `not_permitted`. A change comes back as a `hand_changed` event (to
/// this client and to the hosts); asking for the state the hand already has changes nothing.
/// Each call counts as a data message against the server's rate limit (the engine paces
/// them).
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_raise_hand(
    engine: i64,
    channel: *const c_char,
    raised: i32,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            client
                .engine
                .raise_hand(channel, args::flag(raised, "raised")?);
            Ok(())
        })
    }
}

/// Sends `len` bytes (at most 4096) to everyone who hears this client, or only to the users
/// in `to` (comma-separated user ids; null or empty for everyone). Reliable and ordered; the
/// server stamps the sender and may refuse (a `refused` event) over its rate limit.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string, `to` null or NUL-terminated, `data` valid for
/// `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_send_data(
    engine: i64,
    channel: *const c_char,
    data: *const u8,
    len: usize,
    to: *const c_char,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            let payload = args::bytes(data, len, "data")?;
            if payload.len() > wire::MAX_DATA {
                return Err(Error::argument(format!(
                    "a data message holds at most {} bytes; this one has {}",
                    wire::MAX_DATA,
                    payload.len()
                )));
            }
            let to = args::optional_text(to, "to")?.map_or(Ok(Vec::new()), args::users)?;
            client.engine.send_data(channel, to, payload.to_vec());
            Ok(())
        })
    }
}

/// Replaces the token of a live membership (same channel and user); a `token_renewed` or a
/// `refused` event answers.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `token` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_renew_token(
    engine: i64,
    channel: *const c_char,
    token: *const c_char,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            let token = args::text(token, "token")?;
            client.engine.renew_token(channel, token);
            Ok(())
        })
    }
}

/// Chooses what to receive from `user`: its voice (`audio` 1 or 0) and a video layer
/// (`LIVESTAGE_LAYER_HIGH`, `_LOW` or `_NONE`). By default everything, high layer.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_subscribe(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    audio: i32,
    video: i32,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            let user = args::id("user", args::text(user, "user")?)?;
            client
                .engine
                .subscribe(channel, user, audio != 0, args::layer(video)?);
            Ok(())
        })
    }
}

/// Sends a moderator action about `user`.
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings.
unsafe fn moderate(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    action: impl FnOnce(String) -> Result<Action>,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            let user = args::id("user", args::text(user, "user")?)?;
            client.engine.moderate(channel, action(user.to_owned())?);
            Ok(())
        })
    }
}

/// Moderator: makes `user` a host (its token must grant publishing). Refusals arrive as
/// `refused` events (e.g. `not_permitted` without the moderator grant).
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_promote(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { moderate(engine, channel, user, |u| Ok(Action::Promote(u))) }
}

/// Moderator: moves host `user` to the audience.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_demote(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { moderate(engine, channel, user, |u| Ok(Action::Demote(u))) }
}

/// Moderator: removes `user` from the channel.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_kick(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        moderate(engine, channel, user, |user| {
            Ok(Action::Kick { user, until: None })
        })
    }
}

/// Moderator: mutes (1) or unmutes (0) `user`'s audio and video; `LIVESTAGE_MUTE_KEEP` (-1)
/// leaves that part as it is.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_mute(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    audio: i32,
    video: i32,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        moderate(engine, channel, user, |user| {
            Ok(Action::Mute {
                user,
                audio: args::mute(audio, "audio")?,
                video: args::mute(video, "video")?,
            })
        })
    }
}

/// Moderator: sets whose media and data `listener` receives: the users in `hears`
/// (comma-separated; empty for nobody), or everyone when `hears` is null. Game rules such as
/// "at night only werewolves hear each other" are enforced this way by the server.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `listener` must be NUL-terminated strings, `hears` null or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_set_hearing(
    engine: i64,
    channel: *const c_char,
    listener: *const c_char,
    hears: *const c_char,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        moderate(engine, channel, listener, |listener| {
            let hears = args::optional_text(hears, "hears")?
                .map(args::users)
                .transpose()?;
            Ok(Action::SetHearing { listener, hears })
        })
    }
}

/// Sets how loud `user`'s voice plays here: 0.0 (silent) to 2.0; 1.0 by default.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_set_volume(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    volume: f32,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        request(engine, channel, |client, channel| {
            if !volume.is_finite() {
                return Err(Error::argument(format!("volume {volume} is not a number")));
            }
            let user = args::text(user, "user")?;
            client
                .playout
                .set_volume(client.media_id(channel, user)?, volume);
            Ok(())
        })
    }
}

/// Microseconds since the Unix epoch on the clock capture stamps use.
///
/// Any thread, the audio thread included.
#[unsafe(no_mangle)]
pub extern "C" fn livestage_now_us() -> u64 {
    guard(|| Ok(livestage_net::engine::now_us() as i64)) as u64
}

/// Writes the SHA-256 fingerprint of the first certificate in `pem` as `sha256:` and 64 hex
/// digits (NUL-terminated, 72 bytes) into `buf`, for `livestage_join`'s `cert`. Returns 0,
/// or `LIVESTAGE_ERR_BUFFER_TOO_SMALL` with the size
/// needed in `*size`.
///
/// Any thread but the audio thread.
///
/// # Safety
///
/// `pem` must be a NUL-terminated string; `buf` null or valid for `capacity` bytes; `size`
/// null or valid for writing a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_cert_fingerprint(
    pem: *const c_char,
    buf: *mut c_char,
    capacity: usize,
    size: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let pem = unsafe { args::text(pem, "pem") }?;
        let certs = transport::certs_from_pem(pem.as_bytes())
            .map_err(|e| Error::argument(format!("{e:#}")))?;
        let first = certs
            .first()
            .ok_or_else(|| Error::argument("no certificate in the PEM text"))?;
        let text = transport::format_fingerprint(&transport::fingerprint(first));
        // SAFETY: the caller's contract.
        unsafe { write_text(&text, buf, capacity, size) }?;
        Ok(0)
    })
}
