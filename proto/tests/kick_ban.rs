//! A kick is a ban: the kicked user is refused at join with `kicked` until the moderator's
//! chosen time (by default its token's expiry), unless a moderator lifts it.
#![allow(clippy::unwrap_used)]

mod common;

use common::Net;
use livestage_proto::ErrorCode;
use livestage_proto::client::Session;
use livestage_proto::wire::{Action, Request, Role};

fn kick(net: &mut Net, m: usize, user: &str, until: Option<u64>) {
    let user = user.into();
    net.send(m, Request::Moderate(Action::Kick { user, until }));
}

fn rejoin(net: &mut Net, user: &str) -> usize {
    let token = net.token(user, "join,publish-audio,publish-video");
    net.join_with(user, Session::new(common::CHANNEL, &token, Role::Host))
}

#[test]
fn a_kicked_user_is_refused_on_rejoin_until_its_token_expires() {
    let mut net = Net::new();
    let m = net.moderator("m");
    let a = net.host("a");
    kick(&mut net, m, "a", None);
    assert_eq!(net.ended(a), Some(ErrorCode::Kicked));
    let again = rejoin(&mut net, "a");
    assert_eq!(net.ended(again), Some(ErrorCode::Kicked));
    // Even with the channel empty in between, the ban holds.
    net.cut(m);
    net.advance(25_000);
    let again = rejoin(&mut net, "a");
    assert_eq!(net.ended(again), Some(ErrorCode::Kicked));
    // The kicked token lived an hour; after that a new token gets in.
    net.advance(3_600_000);
    let again = rejoin(&mut net, "a");
    assert_eq!(net.ended(again), None);
}

#[test]
fn the_moderator_chooses_how_long_and_may_lift_it() {
    let mut net = Net::new();
    let m = net.moderator("m");
    net.host("a");
    net.host("b");
    let until = net.now / 1000 + 10;
    kick(&mut net, m, "a", Some(until));
    kick(&mut net, m, "b", None);
    net.advance(11_000);
    let a = rejoin(&mut net, "a");
    assert_eq!(net.ended(a), None, "a's ten seconds are over");
    net.send(m, Request::Moderate(Action::Unban("b".into())));
    let b = rejoin(&mut net, "b");
    assert_eq!(net.ended(b), None, "lifted");
}
