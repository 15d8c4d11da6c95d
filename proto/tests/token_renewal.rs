//! Tokens are renewed on a live session; the client is warned before expiry and removed at it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CHANNEL, Net, SECRET, grants};
use livestage_proto::ErrorCode;
use livestage_proto::client::Session;
use livestage_proto::token::{self, Claims, LEEWAY_SECS};
use livestage_proto::wire::{Event, Request, Role};

fn short_token(net: &Net, user: &str, ttl: u64) -> String {
    let claims = Claims::new(
        "livestage",
        CHANNEL,
        user,
        grants("join,publish-data,publish-audio"),
        net.now / 1000,
        ttl,
    );
    token::mint(&claims, SECRET).unwrap()
}

#[test]
fn warned_then_renewed_then_not_expired() {
    let mut net = Net::new();
    let jwt = short_token(&net, "a", 120);
    let a = net.join_with("a", Session::new(CHANNEL, &jwt, Role::Host));
    net.advance(59_000);
    assert!(
        !net.events(a)
            .iter()
            .any(|e| matches!(e, Event::TokenExpiring { .. }))
    );
    net.advance(2_000);
    assert!(
        net.events(a)
            .iter()
            .any(|e| matches!(e, Event::TokenExpiring { remaining_secs } if *remaining_secs <= 60))
    );
    let fresh = short_token(&net, "a", 3600);
    net.send(a, Request::RenewToken(fresh));
    assert!(
        net.events(a)
            .iter()
            .any(|e| matches!(e, Event::TokenRenewed { .. }))
    );
    net.advance(120_000);
    assert_eq!(net.ended(a), None);
    assert!(net.clients[a].conn.is_some());
}

#[test]
fn unrenewed_token_ends_the_session() {
    let mut net = Net::new();
    let jwt = short_token(&net, "a", 30);
    let a = net.join_with("a", Session::new(CHANNEL, &jwt, Role::Host));
    // The same leeway as at join: alive just inside it, ended once it has passed.
    net.advance(30_000 + LEEWAY_SECS * 1000 - 1_000);
    assert_eq!(net.ended(a), None);
    net.advance(1_000);
    assert_eq!(net.ended(a), Some(ErrorCode::TokenExpired));
}

#[test]
fn a_token_for_another_user_is_not_accepted_as_renewal() {
    let mut net = Net::new();
    let a = net.host("a");
    let other = short_token(&net, "b", 3600);
    net.send(a, Request::RenewToken(other));
    assert_eq!(net.refusals(a), vec![ErrorCode::TokenInvalid]);
}
