//! Tokens signed with the server's secret but carrying arbitrary claims, or an arbitrary
//! header and payload: what an app server could mint by mistake, and header tricks (`alg`
//! confusion) on a correctly signed body. `token::verify` must decide exactly as its rules say
//! (expiry with leeway, `nbf`, app, channel and user binding, a valid user id, the join grant),
//! in that order, and never accept a token whose header does not say HS256.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use livestage_proto::token::{self, Claims, Expect, Grant, Grants, LEEWAY_SECS};
use livestage_proto::{ErrorCode, id};

const SECRET: &[u8] = b"fuzz-secret";

#[derive(Arbitrary, Debug)]
enum Body<'a> {
    /// Claims minted with `token::mint` (an HS256 header).
    Claims {
        app: &'a str,
        ch: &'a str,
        sub: &'a str,
        /// One bit per grant, in `Grant::ALL` order.
        grants: u8,
        exp: u64,
        nbf: Option<u64>,
        iat: Option<u64>,
    },
    /// A header and a payload of arbitrary bytes, signed with HS256 over their base64.
    Raw { header: &'a [u8], payload: &'a [u8] },
    /// An HS256 header and an arbitrary JSON-ish payload.
    Payload(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
struct Case<'a> {
    body: Body<'a>,
    /// Expect the token's own app, channel and user (`true`) or these.
    same_app: bool,
    other_app: &'a str,
    same_channel: bool,
    other_channel: &'a str,
    user: Option<&'a str>,
    now_unix: u64,
}

/// What `verify` must answer for `claims`, in its order of checks.
fn expected(claims: &Claims, expect: Expect<'_>, now: u64) -> Result<(), ErrorCode> {
    let (now, leeway) = (u128::from(now), u128::from(LEEWAY_SECS));
    if u128::from(claims.exp) + leeway <= now {
        return Err(ErrorCode::TokenExpired);
    }
    if claims.nbf.is_some_and(|nbf| u128::from(nbf) > now + leeway) {
        return Err(ErrorCode::TokenExpired);
    }
    let bound = claims.app == expect.app
        && claims.ch == expect.channel
        && expect.user.is_none_or(|u| u == claims.sub);
    if !bound || id::validate("user id", &claims.sub).is_err() {
        return Err(ErrorCode::TokenInvalid);
    }
    if !claims.allows(Grant::Join) {
        return Err(ErrorCode::NotPermitted);
    }
    Ok(())
}

fn signed(header: &[u8], payload: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = EncodingKey::from_secret(SECRET);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
        .expect("HMAC signing does not fail");
    format!("{message}.{signature}")
}

fuzz_target!(|case: Case<'_>| {
    // A clock within the leeway of the end of time is no clock; below it, exact arithmetic and
    // any overflow-safe form of the rules agree.
    let now = case.now_unix.min(u64::MAX - LEEWAY_SECS);
    let (jwt, minted) = match case.body {
        Body::Claims {
            app,
            ch,
            sub,
            grants,
            exp,
            nbf,
            iat,
        } => {
            let grants: Grants = Grant::ALL
                .into_iter()
                .enumerate()
                .filter(|(i, _)| grants & (1 << i) != 0)
                .map(|(_, g)| g)
                .collect();
            let claims = Claims {
                app: app.to_owned(),
                ch: ch.to_owned(),
                sub: sub.to_owned(),
                grants,
                exp,
                nbf,
                iat,
            };
            let jwt = token::mint(&claims, SECRET).expect("claims serialize");
            (jwt, Some(claims))
        }
        Body::Raw { header, payload } => (signed(header, payload), None),
        Body::Payload(payload) => (signed(br#"{"alg":"HS256","typ":"JWT"}"#, payload), None),
    };
    let peeked = token::peek(&jwt);
    let (app, channel) = match (&minted, &peeked) {
        (Some(c), _) | (None, Ok(c)) => (c.app.clone(), c.ch.clone()),
        (None, Err(_)) => (case.other_app.to_owned(), case.other_channel.to_owned()),
    };
    let expect = Expect {
        app: if case.same_app { &app } else { case.other_app },
        channel: if case.same_channel {
            &channel
        } else {
            case.other_channel
        },
        user: case.user,
    };
    let verified = token::verify(&jwt, SECRET, expect, now);
    if let Ok(claims) = &verified {
        let header = jsonwebtoken::decode_header(&jwt).expect("a verified token has a header");
        assert_eq!(header.alg, Algorithm::HS256, "accepted a non-HS256 header");
        assert_eq!(expected(claims, expect, now), Ok(()));
    }
    if let Some(claims) = &minted {
        assert_eq!(
            peeked.as_ref().ok(),
            Some(claims),
            "peek reads minted claims"
        );
        let want = expected(claims, expect, now);
        assert_eq!(verified.as_ref().map(|_| ()).map_err(|e| e.code), want);
        if let Ok(got) = &verified {
            assert_eq!(got, claims);
        }
    }
});
