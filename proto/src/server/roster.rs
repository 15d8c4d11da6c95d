//! Who sees whom. Hosts see the hosts and the audience members with a raised hand; the
//! audience sees the hosts; everyone is told how many are watching. The channel keeps an index
//! of both groups, so announcing a change or building a roster costs O(hosts + hands), never
//! O(audience), and a roster of any size goes out in pages that each fit a frame.

use std::collections::{BTreeMap, BTreeSet};

use crate::id::{SessionId, UserId};
use crate::wire::{self, Event, Participant, Profile, Role, RosterPage, ServerFrame};

use super::{ConnId, Server};

/// Least time between two audience counts sent to a channel's hosts.
const AUDIENCE_COUNT_INTERVAL_MS: u64 = 1_000;

pub(super) struct Channel {
    pub profile: Profile,
    pub members: BTreeMap<UserId, SessionId>,
    /// The members on stage.
    pub hosts: BTreeMap<UserId, SessionId>,
    /// The audience members with a raised hand (the hosts see them).
    pub hands: BTreeMap<UserId, SessionId>,
    /// What moderators imposed on each user, kept past the user's session: leaving and joining
    /// again (or replacing the session) must not lift a mute or a hearing set.
    pub restrictions: BTreeMap<UserId, Restriction>,
    /// The audience count last sent to the hosts, and when.
    pub audience_told: (u32, u64),
    /// The CDN pushes running, by name, with the user who started each.
    pub pushes: BTreeMap<String, UserId>,
    /// The injects running, by name, with the user who started each.
    pub injects: BTreeMap<String, UserId>,
    /// The relays running, by the host relaying, with the destinations it still sends to.
    pub relays: BTreeMap<UserId, BTreeSet<crate::relay::Target>>,
}

/// A moderator's mutes and hearing set for one user of a channel.
#[derive(Clone, Debug, Default)]
pub(super) struct Restriction {
    pub hears: Option<BTreeSet<UserId>>,
    pub audio_muted: bool,
    pub video_muted: bool,
}

impl Channel {
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            members: BTreeMap::new(),
            hosts: BTreeMap::new(),
            hands: BTreeMap::new(),
            restrictions: BTreeMap::new(),
            audience_told: (0, 0),
            pushes: BTreeMap::new(),
            injects: BTreeMap::new(),
            relays: BTreeMap::new(),
        }
    }

    pub fn audience(&self) -> u32 {
        u32::try_from(self.members.len() - self.hosts.len()).unwrap_or(u32::MAX)
    }
}

impl Server {
    /// Brings the channel's host and hand indexes in line with a session's role and hand.
    pub(super) fn reindex(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let (user, host, hand) = (s.user().to_owned(), s.is_host(), s.hand_raised);
        let Some(ch) = self.channels.get_mut(&s.channel) else {
            return;
        };
        for (index, member) in [(&mut ch.hosts, host), (&mut ch.hands, hand)] {
            if member {
                index.insert(user.clone(), sid);
            } else if index.get(&user) == Some(&sid) {
                index.remove(&user);
            }
        }
        let channel = s.channel.clone();
        self.counts_due.insert(channel);
    }

    /// The participants `viewer` may see, itself excluded, in user id order per group.
    pub(super) fn visible_roster(&self, viewer: SessionId) -> Vec<Participant> {
        let Some(v) = self.sessions.get(&viewer) else {
            return Vec::new();
        };
        let Some(ch) = self.channels.get(&v.channel) else {
            return Vec::new();
        };
        let hands = v.is_host().then_some(&ch.hands);
        ch.hosts
            .values()
            .chain(hands.into_iter().flat_map(|h| h.values()))
            .filter(|&&sid| sid != viewer)
            .filter_map(|sid| self.sessions.get(sid))
            .map(|s| s.participant())
            .collect()
    }

    /// The roster `viewer` may see, split into pages: the first to go into a `Welcome`, the
    /// rest to follow it as [`ServerFrame::Roster`].
    pub(super) fn roster_pages(&self, viewer: SessionId) -> Vec<RosterPage> {
        let peers = self.visible_roster(viewer);
        let mut pages: Vec<RosterPage> = peers
            .chunks(wire::ROSTER_PAGE)
            .map(|chunk| RosterPage {
                start: false,
                peers: chunk.to_vec(),
                more: true,
            })
            .collect();
        if pages.is_empty() {
            pages.push(RosterPage::default());
        }
        pages[0].start = true;
        if let Some(last) = pages.last_mut() {
            last.more = false;
        }
        pages
    }

    /// Sends `viewer` a fresh roster (after its own role changed), if it is connected.
    pub(super) fn send_roster(&mut self, viewer: SessionId) {
        let Some(conn) = self.sessions.get(&viewer).and_then(|s| s.conn) else {
            return; // A resume brings a fresh roster with its welcome.
        };
        for page in self.roster_pages(viewer) {
            self.send(conn, ServerFrame::Roster(page));
        }
    }

    /// Sends the pages after the first, right behind a welcome.
    pub(super) fn send_rest_of_roster(&mut self, conn: ConnId, pages: Vec<RosterPage>) {
        for page in pages {
            self.send(conn, ServerFrame::Roster(page));
        }
    }

    /// Tells the others in `subject`'s channel who may see it: everyone sees a host, the hosts
    /// see a raised hand, nobody is told about the rest of the audience (it is counted).
    pub(super) fn announce(&mut self, subject: SessionId, event: &Event, about: &Participant) {
        let Some(ch) = self
            .sessions
            .get(&subject)
            .and_then(|s| self.channels.get(&s.channel))
        else {
            return;
        };
        let to: Vec<SessionId> = if about.role == Role::Host {
            ch.members.values().copied().collect()
        } else if about.hand_raised {
            ch.hosts.values().copied().collect()
        } else {
            Vec::new()
        };
        for sid in to.into_iter().filter(|&sid| sid != subject) {
            self.emit(sid, event.clone());
        }
    }

    /// Sends each channel whose audience changed its new count (hosts only), at most once a
    /// second.
    pub(super) fn send_audience_counts(&mut self, now_ms: u64) {
        let due: Vec<_> = self.counts_due.iter().cloned().collect();
        for channel in due {
            let Some(ch) = self.channels.get_mut(&channel) else {
                self.counts_due.remove(&channel);
                continue;
            };
            let (told, at) = ch.audience_told;
            if now_ms < at + AUDIENCE_COUNT_INTERVAL_MS {
                continue;
            }
            self.counts_due.remove(&channel);
            let count = ch.audience();
            if count == told {
                continue;
            }
            ch.audience_told = (count, now_ms);
            let hosts: Vec<SessionId> = ch.hosts.values().copied().collect();
            for h in hosts {
                self.emit(h, Event::Audience { count });
            }
        }
    }
}
