//! Access tokens: JWT signed with HS256, bound to an app, a channel and a user, carrying grants.
//!
//! Deny by default: a grant not named in the token is not given. The clock is an input
//! (`now_unix`), so verification is deterministic in tests.

use std::collections::BTreeSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::id;

/// Seconds of clock difference tolerated between the token minter and the server.
pub const LEEWAY_SECS: u64 = 5;

/// Something a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grant {
    /// Join the channel (as audience).
    #[serde(rename = "join")]
    Join,
    /// Publish audio as a host.
    #[serde(rename = "publish-audio")]
    PublishAudio,
    /// Publish video as a host.
    #[serde(rename = "publish-video")]
    PublishVideo,
    /// Send data messages.
    #[serde(rename = "publish-data")]
    PublishData,
    /// Promote, demote, mute, kick and set hearing sets.
    #[serde(rename = "moderator")]
    Moderator,
    /// Start, change and stop CDN pushes of the channel (moderators may too).
    #[serde(rename = "push")]
    Push,
    /// Relay the holder's own tracks into other channels (co-hosting across channels).
    #[serde(rename = "relay")]
    Relay,
}

impl Grant {
    /// Every grant, in order.
    pub const ALL: [Grant; 7] = [
        Grant::Join,
        Grant::PublishAudio,
        Grant::PublishVideo,
        Grant::PublishData,
        Grant::Moderator,
        Grant::Push,
        Grant::Relay,
    ];

    /// The name used in tokens and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Join => "join",
            Grant::PublishAudio => "publish-audio",
            Grant::PublishVideo => "publish-video",
            Grant::PublishData => "publish-data",
            Grant::Moderator => "moderator",
            Grant::Push => "push",
            Grant::Relay => "relay",
        }
    }

    /// Parses a comma-separated list such as `join,publish-audio`.
    pub fn parse_list(list: &str) -> Result<Grants, String> {
        let mut grants = Grants::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let grant = Grant::ALL
                .into_iter()
                .find(|g| g.as_str() == name)
                .ok_or_else(|| {
                    let known: Vec<_> = Grant::ALL.iter().map(|g| g.as_str()).collect();
                    format!("unknown grant {name:?}; known grants: {}", known.join(", "))
                })?;
            grants.insert(grant);
        }
        Ok(grants)
    }
}

/// A set of grants.
pub type Grants = BTreeSet<Grant>;

/// The claims of a Livestage token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The app the token is for; the server accepts only its own.
    pub app: String,
    /// The channel the token is bound to.
    pub ch: String,
    /// The user id the token is bound to.
    pub sub: String,
    /// What the holder may do.
    pub grants: Grants,
    /// Expiry, seconds since the Unix epoch. Required.
    pub exp: u64,
    /// Not valid before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

impl Claims {
    /// Claims for `user` in `channel` of `app`, valid for `ttl_secs` from `now_unix`.
    pub fn new(
        app: &str,
        channel: &str,
        user: &str,
        grants: Grants,
        now_unix: u64,
        ttl_secs: u64,
    ) -> Self {
        Self {
            app: app.to_owned(),
            ch: channel.to_owned(),
            sub: user.to_owned(),
            grants,
            exp: now_unix + ttl_secs,
            nbf: None,
            iat: Some(now_unix),
        }
    }

    /// Whether the token grants `grant`.
    pub fn allows(&self, grant: Grant) -> bool {
        self.grants.contains(&grant)
    }

    /// Whether the holder may be a host (publish audio or video).
    pub fn may_host(&self) -> bool {
        self.allows(Grant::PublishAudio) || self.allows(Grant::PublishVideo)
    }
}

/// Signs claims with the app secret (HS256).
pub fn mint(claims: &Claims, secret: &[u8]) -> Result<String, Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| Error::new(ErrorCode::TokenInvalid, format!("cannot sign token: {e}")))
}

/// Reads a token's claims WITHOUT checking its signature or expiry: only for a client that
/// wants to know which channel and user its own token names. Servers use [`verify`].
pub fn peek(token: &str) -> Result<Claims, Error> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.set_required_spec_claims::<&str>(&[]);
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&[]), &validation)
        .map(|d| d.claims)
        .map_err(|e| {
            Error::new(
                ErrorCode::TokenInvalid,
                format!("not a Livestage token: {e}"),
            )
        })
}

/// What a token must be bound to.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// The server's app id.
    pub app: &'a str,
    /// The channel being joined.
    pub channel: &'a str,
    /// The user id the client claims, if it names one.
    pub user: Option<&'a str>,
}

/// Whether a token expiring at `exp` is expired at `now_unix` (seconds since the Unix epoch),
/// with [`LEEWAY_SECS`] for clock skew: the one rule for joining and for staying connected.
pub fn expired(exp: u64, now_unix: u64) -> bool {
    exp.saturating_add(LEEWAY_SECS) <= now_unix
}

/// Verifies a token's signature (HS256 only), expiry and binding. `now_unix` is the current
/// time in seconds since the Unix epoch.
pub fn verify(
    token: &str,
    secret: &[u8],
    expect: Expect<'_>,
    now_unix: u64,
) -> Result<Claims, Error> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Time is checked below against the clock we were given, never the system clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|e| Error::new(ErrorCode::TokenInvalid, format!("token rejected: {e}")))?;
    let claims = data.claims;
    if expired(claims.exp, now_unix) {
        return Err(Error::new(
            ErrorCode::TokenExpired,
            format!(
                "token expired {} s ago; ask your app server for a new one",
                now_unix - claims.exp
            ),
        ));
    }
    if let Some(nbf) = claims.nbf
        && nbf > now_unix.saturating_add(LEEWAY_SECS)
    {
        return Err(Error::new(
            ErrorCode::TokenExpired,
            format!("token is not valid for another {} s (nbf)", nbf - now_unix),
        ));
    }
    let mismatch = |what: &str, got: &str, want: &str| {
        Error::new(
            ErrorCode::TokenInvalid,
            format!("token is for {what} {got:?}, not {want:?}"),
        )
    };
    if claims.app != expect.app {
        return Err(mismatch("app", &claims.app, expect.app));
    }
    if claims.ch != expect.channel {
        return Err(mismatch("channel", &claims.ch, expect.channel));
    }
    if let Some(user) = expect.user
        && claims.sub != user
    {
        return Err(mismatch("user", &claims.sub, user));
    }
    id::validate("user id", &claims.sub)
        .map_err(|e| Error::new(ErrorCode::TokenInvalid, e.message))?;
    if !claims.allows(Grant::Join) {
        return Err(Error::new(
            ErrorCode::NotPermitted,
            "token does not grant join",
        ));
    }
    Ok(claims)
}
