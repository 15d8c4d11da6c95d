//! Every way a token can be wrong is refused with the right code, and the server stays up.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CHANNEL, Net, SECRET, grants};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use livestage_proto::ErrorCode;
use livestage_proto::client::Session;
use livestage_proto::token::{self, Claims, Expect};
use livestage_proto::wire::Role;

const NOW: u64 = 1_800_000_000;

fn claims() -> Claims {
    Claims::new(
        "livestage",
        CHANNEL,
        "alice",
        grants("join,publish-data"),
        NOW,
        600,
    )
}

fn expect() -> Expect<'static> {
    Expect {
        app: "livestage",
        channel: CHANNEL,
        user: Some("alice"),
    }
}

fn verify(jwt: &str) -> Result<Claims, ErrorCode> {
    token::verify(jwt, SECRET, expect(), NOW).map_err(|e| e.code)
}

#[test]
fn a_good_token_passes() {
    let jwt = token::mint(&claims(), SECRET).unwrap();
    assert_eq!(verify(&jwt).unwrap(), claims());
}

#[test]
fn the_table() {
    let sign = |c: &Claims| token::mint(c, SECRET).unwrap();
    let raw = |v: serde_json::Value, alg: Algorithm| {
        jsonwebtoken::encode(&Header::new(alg), &v, &EncodingKey::from_secret(SECRET)).unwrap()
    };
    let base = serde_json::to_value(claims()).unwrap();
    let mut no_exp = base.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    // Flip the grants in the payload but keep the old signature.
    let good = sign(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut forged = claims();
    forged.grants = grants("join,publish-data,moderator");
    let forged_payload = sign(&forged).split('.').nth(1).unwrap().to_owned();
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);

    let cases: Vec<(&str, String, ErrorCode)> = vec![
        (
            "wrong key",
            token::mint(&claims(), b"other").unwrap(),
            ErrorCode::TokenInvalid,
        ),
        (
            "expired",
            sign(&Claims {
                exp: NOW - 60,
                ..claims()
            }),
            ErrorCode::TokenExpired,
        ),
        (
            "missing exp",
            raw(no_exp, Algorithm::HS256),
            ErrorCode::TokenInvalid,
        ),
        (
            "nbf in the future",
            sign(&Claims {
                nbf: Some(NOW + 600),
                ..claims()
            }),
            ErrorCode::TokenExpired,
        ),
        (
            "another algorithm",
            raw(base.clone(), Algorithm::HS384),
            ErrorCode::TokenInvalid,
        ),
        (
            "wrong channel",
            sign(&Claims {
                ch: "other".into(),
                ..claims()
            }),
            ErrorCode::TokenInvalid,
        ),
        (
            "wrong user",
            sign(&Claims {
                sub: "mallory".into(),
                ..claims()
            }),
            ErrorCode::TokenInvalid,
        ),
        (
            "wrong app",
            sign(&Claims {
                app: "other".into(),
                ..claims()
            }),
            ErrorCode::TokenInvalid,
        ),
        ("tampered grant", tampered, ErrorCode::TokenInvalid),
        (
            "no join grant",
            sign(&Claims {
                grants: grants("publish-data"),
                ..claims()
            }),
            ErrorCode::NotPermitted,
        ),
        ("garbage", "not.a.jwt".into(), ErrorCode::TokenInvalid),
    ];
    for (name, jwt, want) in cases {
        assert_eq!(verify(&jwt).err(), Some(want), "case {name}");
    }
}

#[test]
fn the_server_refuses_bad_tokens_and_keeps_serving() {
    let mut net = Net::new();
    let host = net.host("host");
    let bad = token::mint(
        &Claims {
            ch: "other".into(),
            ..claims()
        },
        SECRET,
    )
    .unwrap();
    let intruder = net.join_with("alice", Session::new(CHANNEL, &bad, Role::Host));
    assert_eq!(net.ended(intruder), Some(ErrorCode::TokenInvalid));
    assert!(
        net.clients[intruder].conn.is_none(),
        "refused connection is closed"
    );
    assert_eq!(net.server.participants(CHANNEL).len(), 1);
    let other = net.host("bob");
    net.data(host, b"still here");
    assert_eq!(net.data_received(other).len(), 1);
}
