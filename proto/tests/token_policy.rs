//! Token policy: a maximum lifetime, and expiry times at the edge of the integer range.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CHANNEL, Net, SECRET, grants};
use livestage_proto::ErrorCode;
use livestage_proto::client::Session;
use livestage_proto::server::Config;
use livestage_proto::token::{self, Claims};
use livestage_proto::wire::Role;

fn token_until(net: &Net, exp: u64) -> String {
    let mut claims = Claims::new("livestage", CHANNEL, "a", grants("join"), net.now / 1000, 0);
    claims.exp = exp;
    token::mint(&claims, SECRET).unwrap()
}

#[test]
fn a_token_that_lives_too_long_is_refused() {
    let mut net = Net::with(Config {
        max_token_secs: Some(3600),
        ..Config::default()
    });
    let week = token_until(&net, net.now / 1000 + 7 * 86_400);
    let a = net.join_with("a", Session::new(CHANNEL, &week, Role::Audience));
    assert_eq!(net.ended(a), Some(ErrorCode::TokenInvalid));
    let hour = token_until(&net, net.now / 1000 + 3600);
    let b = net.join_with("a", Session::new(CHANNEL, &hour, Role::Audience));
    assert_eq!(net.ended(b), None);
}

#[test]
fn an_expiry_at_the_end_of_time_does_not_overflow() {
    let mut net = Net::new();
    let forever = token_until(&net, u64::MAX);
    let a = net.join_with("a", Session::new(CHANNEL, &forever, Role::Audience));
    net.advance(1_000);
    assert_eq!(net.ended(a), None);
}
