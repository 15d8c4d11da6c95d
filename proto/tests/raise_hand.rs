//! A raised hand: an audience member asks to be invited on stage. The server holds the state,
//! shows it to whoever can see that member (the hosts) and to the member itself, lowers it
//! when the member goes on stage, and rate limits toggling.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CHANNEL, Net};
use livestage_proto::ErrorCode;
use livestage_proto::client::Session;
use livestage_proto::wire::{Action, Event, Request, Role};

/// The hand changes among `events`, as (user, raised).
fn hands(events: Vec<Event>) -> Vec<(String, bool)> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::HandChanged { participant: p } => Some((p.user, p.hand_raised)),
            _ => None,
        })
        .collect()
}

/// Whether client `i` sees `user` with a raised hand in its roster.
fn sees_hand(net: &Net, i: usize, user: &str) -> Option<bool> {
    net.clients[i]
        .session
        .roster()
        .find(|p| p.user == user)
        .map(|p| p.hand_raised)
}

/// Clears what every client received so far.
fn settle(net: &mut Net) {
    for i in 0..net.clients.len() {
        net.events(i);
    }
}

#[test]
fn a_raised_hand_is_shown_to_the_hosts_and_to_the_user() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let host = net.host("host");
    // Watching is enough: raising a hand needs no grant beyond joining.
    let fan = net.join("fan", "join", Role::Audience);
    settle(&mut net);
    net.send(fan, Request::RaiseHand(true));
    let raised = vec![("fan".to_owned(), true)];
    assert_eq!(hands(net.events(m)), raised);
    assert_eq!(hands(net.events(host)), raised);
    assert_eq!(hands(net.events(fan)), raised, "the user is told too");
    assert_eq!(sees_hand(&net, m, "fan"), Some(true));
    assert!(net.clients[fan].session.me().unwrap().hand_raised);
    assert!(net.refusals(fan).is_empty());
}

#[test]
fn other_audience_members_do_not_see_a_raised_hand() {
    let mut net = Net::new();
    net.moderator("m");
    let fan = net.audience("fan");
    let other = net.audience("other");
    settle(&mut net);
    net.send(fan, Request::RaiseHand(true));
    assert!(net.events(other).is_empty());
    assert_eq!(sees_hand(&net, other, "fan"), None, "fan stays invisible");
}

#[test]
fn a_lowered_hand_is_shown_to_the_same_people() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let fan = net.audience("fan");
    net.send(fan, Request::RaiseHand(true));
    settle(&mut net);
    net.send(fan, Request::RaiseHand(false));
    let lowered = vec![("fan".to_owned(), false)];
    assert_eq!(hands(net.events(m)), lowered);
    assert_eq!(hands(net.events(fan)), lowered);
    assert_eq!(
        sees_hand(&net, m, "fan"),
        None,
        "back out of the hosts' view"
    );
    assert!(!net.clients[fan].session.me().unwrap().hand_raised);
}

#[test]
fn asking_for_the_state_a_hand_already_has_emits_nothing() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let fan = net.audience("fan");
    settle(&mut net);
    net.send(fan, Request::RaiseHand(false));
    assert!(net.events(m).is_empty(), "a hand that is down stays down");
    assert!(net.events(fan).is_empty());
    net.send(fan, Request::RaiseHand(true));
    settle(&mut net);
    net.send(fan, Request::RaiseHand(true));
    assert!(net.events(m).is_empty(), "raising again changes nothing");
    assert!(net.events(fan).is_empty(), "and is not refused");
}

#[test]
fn a_host_cannot_raise_a_hand_but_may_lower_it() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let host = net.host("host");
    settle(&mut net);
    net.send(host, Request::RaiseHand(true));
    assert_eq!(net.refusals(host), vec![ErrorCode::NotPermitted]);
    assert!(net.events(m).is_empty());
    assert_eq!(sees_hand(&net, m, "host"), Some(false));
    net.send(host, Request::RaiseHand(false));
    assert!(net.events(host).is_empty(), "lowering is always allowed");
}

#[test]
fn a_promotion_lowers_the_hand() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let fan = net.audience("fan");
    net.send(fan, Request::RaiseHand(true));
    settle(&mut net);
    net.send(m, Request::Moderate(Action::Promote("fan".into())));
    assert_eq!(net.role(fan), Role::Host);
    let promoted = net.events(m).into_iter().find_map(|e| match e {
        Event::RoleChanged { participant, .. } if participant.user == "fan" => Some(participant),
        _ => None,
    });
    let promoted = promoted.unwrap();
    assert_eq!((promoted.role, promoted.hand_raised), (Role::Host, false));
    assert_eq!(sees_hand(&net, m, "fan"), Some(false));
    assert!(!net.clients[fan].session.me().unwrap().hand_raised);
}

#[test]
fn going_on_stage_oneself_lowers_the_hand() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let fan = net.audience("fan");
    net.send(fan, Request::RaiseHand(true));
    net.send(fan, Request::SetRole(Role::Host));
    assert_eq!(net.role(fan), Role::Host);
    assert_eq!(sees_hand(&net, m, "fan"), Some(false));
    assert!(!net.clients[fan].session.me().unwrap().hand_raised);
    // Back in the audience, the hand stays down until raised again.
    net.send(fan, Request::SetRole(Role::Audience));
    assert!(!net.clients[fan].session.me().unwrap().hand_raised);
}

#[test]
fn a_moderator_who_joins_later_sees_the_raised_hand_on_join() {
    let mut net = Net::new();
    let fan = net.audience("fan");
    net.audience("quiet");
    net.send(fan, Request::RaiseHand(true));
    let m = net.moderator("m");
    assert_eq!(sees_hand(&net, m, "fan"), Some(true), "in the welcome");
    assert_eq!(
        sees_hand(&net, m, "quiet"),
        None,
        "the quiet audience is counted"
    );
}

#[test]
fn going_on_stage_shows_the_raised_hands_in_the_new_roster() {
    let mut net = Net::new();
    let fan = net.audience("fan");
    let m = net.join(
        "m",
        "join,publish-audio,publish-video,publish-data,moderator",
        Role::Audience,
    );
    net.send(fan, Request::RaiseHand(true));
    assert_eq!(
        sees_hand(&net, m, "fan"),
        None,
        "audience does not see audience"
    );
    net.send(m, Request::SetRole(Role::Host));
    assert_eq!(sees_hand(&net, m, "fan"), Some(true), "the roster shows it");
}

#[test]
fn toggling_a_hand_faster_than_the_data_rate_limit_is_refused() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let token = net.token("spammer", "join");
    let spammer = net.join_with(
        "spammer",
        Session::new(CHANNEL, &token, Role::Audience).without_pacing(),
    );
    settle(&mut net);
    for n in 0..100 {
        let request = Request::RaiseHand(n % 2 == 0);
        net.clients[spammer].session.send(request, net.now).unwrap();
    }
    net.run();
    let refused = net.refusals(spammer);
    assert_eq!(refused.len(), 40, "60 messages a second pass");
    assert!(refused.iter().all(|c| *c == ErrorCode::RateLimited));
    assert_eq!(hands(net.events(m)).len(), 60);
    net.advance(1000);
    net.send(spammer, Request::RaiseHand(true));
    assert_eq!(hands(net.events(m)), vec![("spammer".to_owned(), true)]);
}

#[test]
fn a_paced_client_toggles_without_refusals() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let fan = net.audience("fan");
    settle(&mut net);
    for n in 0..100 {
        let request = Request::RaiseHand(n % 2 == 0);
        net.clients[fan].session.send(request, net.now).unwrap();
    }
    net.advance(3000);
    assert!(net.refusals(fan).is_empty());
    assert_eq!(
        hands(net.events(m)).len(),
        100,
        "every toggle arrives, paced"
    );
}
