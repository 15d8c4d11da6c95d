//! Inputs the fuzz targets (`fuzz/`) found that once panicked, kept as tests, one per finding.
#![allow(clippy::unwrap_used)]

use livestage_proto::ErrorCode;
use livestage_proto::token::{self, Claims, Expect, Grant};

const SECRET: &[u8] = b"fuzz-secret";
const NOW: u64 = 1_800_000_000;

fn signed(exp: u64, nbf: Option<u64>) -> String {
    let grants = Grant::parse_list("join").unwrap();
    let claims = Claims {
        exp,
        nbf,
        ..Claims::new("livestage", "c", "u", grants, NOW, 60)
    };
    token::mint(&claims, SECRET).unwrap()
}

fn verify(jwt: &str, now: u64) -> Result<u64, ErrorCode> {
    let expect = Expect {
        app: "livestage",
        channel: "c",
        user: None,
    };
    token::verify(jwt, SECRET, expect, now)
        .map(|c| c.exp)
        .map_err(|e| e.code)
}

/// token_claims, crash-4ab330e7: a correctly signed token with `exp = u64::MAX` made
/// `exp + LEEWAY_SECS` overflow (a panic with overflow checks; without them the sum wrapped and
/// the token counted as expired).
#[test]
fn a_token_that_expires_at_the_end_of_time_is_valid_not_a_panic() {
    assert_eq!(verify(&signed(u64::MAX, None), NOW), Ok(u64::MAX));
    assert_eq!(verify(&signed(u64::MAX, Some(0)), 0), Ok(u64::MAX));
}

/// The same sums at the far end of the clock: `nbf` at the end of time is in the future, and a
/// clock at the end of time is past every expiry.
#[test]
fn nbf_and_clock_at_the_end_of_time_are_answered_not_panics() {
    let far_nbf = signed(u64::MAX, Some(u64::MAX));
    assert_eq!(verify(&far_nbf, NOW), Err(ErrorCode::TokenExpired));
    assert_eq!(
        verify(&signed(NOW + 60, None), u64::MAX),
        Err(ErrorCode::TokenExpired)
    );
    assert!(verify(&far_nbf, u64::MAX).is_err());
}
