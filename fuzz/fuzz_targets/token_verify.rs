//! Access tokens as clients send them: `token::verify` (and the client-side `token::peek`) on
//! arbitrary strings, against arbitrary expectations and clocks. A token that verifies is bound
//! to what was expected, grants join, and has not expired.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use livestage_proto::token::{self, Expect, Grant, LEEWAY_SECS};

const SECRET: &[u8] = b"fuzz-secret";

#[derive(Arbitrary, Debug)]
struct Case<'a> {
    token: &'a str,
    app: &'a str,
    channel: &'a str,
    user: Option<&'a str>,
    now_unix: u64,
}

fuzz_target!(|case: Case<'_>| {
    let peeked = token::peek(case.token);
    let expect = Expect {
        app: case.app,
        channel: case.channel,
        user: case.user,
    };
    let Ok(claims) = token::verify(case.token, SECRET, expect, case.now_unix) else {
        return;
    };
    // A random string that carries a valid HS256 signature is the fuzzer finding the secret;
    // should it happen, the token must still obey every rule.
    assert_eq!(claims.app, case.app);
    assert_eq!(claims.ch, case.channel);
    assert!(case.user.is_none_or(|u| u == claims.sub));
    assert!(claims.allows(Grant::Join));
    assert!(u128::from(claims.exp) + u128::from(LEEWAY_SECS) > u128::from(case.now_unix));
    assert_eq!(peeked.ok(), Some(claims));
});
