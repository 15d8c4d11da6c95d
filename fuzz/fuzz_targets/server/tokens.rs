//! The tokens the `server` target joins and renews with: every user, channel, grant set and
//! lifetime, signed with the server's secret or another one, minted once per process.

use std::collections::HashMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use livestage_proto::media::Kind;
use livestage_proto::token::{self, Claims, Grant, Grants};

use crate::{CHANNELS, OTHER_SECRET, SECRET, T0_MS, USERS};

/// The grants a token carries.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantSet {
    Audience,
    Host,
    Moderator,
    ModeratorOnly,
    NoJoin,
    /// A host that may publish audio but not video.
    AudioOnly,
    /// A host that may publish video but not audio.
    VideoOnly,
}

impl GrantSet {
    pub const ALL: [GrantSet; 7] = [
        GrantSet::Audience,
        GrantSet::Host,
        GrantSet::Moderator,
        GrantSet::ModeratorOnly,
        GrantSet::NoJoin,
        GrantSet::AudioOnly,
        GrantSet::VideoOnly,
    ];

    pub fn grants(self) -> Grants {
        let list: &[Grant] = match self {
            GrantSet::Audience => &[Grant::Join],
            GrantSet::Host => &[
                Grant::Join,
                Grant::PublishAudio,
                Grant::PublishVideo,
                Grant::PublishData,
            ],
            GrantSet::Moderator => &Grant::ALL,
            GrantSet::ModeratorOnly => &[Grant::Join, Grant::Moderator],
            GrantSet::NoJoin => &[Grant::PublishAudio, Grant::PublishVideo],
            GrantSet::AudioOnly => &[Grant::Join, Grant::PublishAudio],
            GrantSet::VideoOnly => &[Grant::Join, Grant::PublishVideo],
        };
        list.iter().copied().collect()
    }

    /// Whether these grants let a host publish media of `kind`.
    pub fn publishes(self, kind: Kind) -> bool {
        let grant = match kind {
            Kind::Audio => Grant::PublishAudio,
            Kind::Video(_) => Grant::PublishVideo,
        };
        self.grants().contains(&grant)
    }
}

/// How long a token lives.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Expires within the run (30 s), after its warning.
    Short,
    /// An hour.
    Long,
    /// Expired before the run began.
    Expired,
}

impl Ttl {
    const ALL: [Ttl; 3] = [Ttl::Short, Ttl::Long, Ttl::Expired];
}

/// Whose token, with which grants and lifetime.
#[derive(Arbitrary, Debug)]
pub struct TokenSpec {
    pub user: u8,
    pub grants: GrantSet,
    pub ttl: Ttl,
}

/// Every token the target uses.
pub struct Tokens {
    table: HashMap<(usize, usize, usize, usize, bool), String>,
}

impl Tokens {
    /// The token `spec` describes for channel `channel` (an index into [`CHANNELS`], taken
    /// modulo their number), signed with the server's secret unless `other_secret`.
    pub fn get(&self, spec: &TokenSpec, channel: usize, other_secret: bool) -> String {
        let user = usize::from(spec.user) % USERS.len();
        let grants = GrantSet::ALL
            .iter()
            .position(|g| *g == spec.grants)
            .unwrap_or(0);
        let ttl = Ttl::ALL.iter().position(|t| *t == spec.ttl).unwrap_or(0);
        self.table[&(user, channel % CHANNELS.len(), grants, ttl, other_secret)].clone()
    }
}

/// The table of tokens, minted on first use.
pub fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let now = T0_MS / 1000;
        let mut table = HashMap::new();
        for (u, user) in USERS.iter().enumerate() {
            for (c, channel) in CHANNELS.iter().enumerate() {
                for (g, set) in GrantSet::ALL.iter().enumerate() {
                    for (t, ttl) in Ttl::ALL.iter().enumerate() {
                        let (iat, secs) = match ttl {
                            Ttl::Short => (now, 30),
                            Ttl::Long => (now, 3600),
                            Ttl::Expired => (now - 100, 10),
                        };
                        let claims =
                            Claims::new("livestage", channel, user, set.grants(), iat, secs);
                        for other in [false, true] {
                            let secret = if other { OTHER_SECRET } else { SECRET };
                            let jwt = token::mint(&claims, secret).expect("claims serialize");
                            table.insert((u, c, g, t, other), jwt);
                        }
                    }
                }
            }
        }
        Tokens { table }
    })
}

/// The user id of crowd viewer `i`: 64 bytes.
pub fn crowd_user(i: usize) -> String {
    format!("crowd-{i:04}-{}", "x".repeat(64 - 11))
}

/// The crowd's tokens (audience grants for channel c0), minted on first use.
#[cfg(feature = "crowd")]
pub fn crowd_tokens() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        (0..crate::CROWD_MAX)
            .map(|i| {
                let claims = Claims::new(
                    "livestage",
                    CHANNELS[0],
                    &crowd_user(i),
                    GrantSet::Audience.grants(),
                    T0_MS / 1000,
                    3600,
                );
                token::mint(&claims, SECRET).expect("claims serialize")
            })
            .collect()
    })
}
