//! Relay destinations as people write them (the bot's `--relay`, the C ABI): `CHANNEL:TOKEN`
//! for a channel on the same server, `CHANNEL@ADDR#CERT:TOKEN` for one on another server,
//! where `CERT` is that server's certificate (a PEM file) or its `sha256:HEX` pin.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use livestage_proto::relay::{Destination, Remote, Target};

use crate::transport::{certs_from_pem, fingerprint, parse_fingerprint};

/// Parses a comma-separated list of destinations, each `CHANNEL:TOKEN` on the same server or
/// `CHANNEL@ADDR#CERT:TOKEN` on another (`CERT` a PEM file, or `sha256:HEX`).
pub fn parse(spec: &str) -> anyhow::Result<Vec<Destination>> {
    let destinations: Vec<Destination> = spec
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| destination(part).with_context(|| format!("destination {part}")))
        .collect::<anyhow::Result<_>>()?;
    if destinations.is_empty() {
        bail!("no destination; give CHANNEL:TOKEN or CHANNEL@ADDR#CERT:TOKEN");
    }
    Ok(destinations)
}

/// Parses a comma-separated list of destinations without tokens (`CHANNEL` or
/// `CHANNEL@ADDR#CERT`), as a relay update names those to stop.
pub fn parse_targets(spec: &str) -> anyhow::Result<Vec<Target>> {
    spec.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| target(part).with_context(|| format!("destination {part}")))
        .collect()
}

fn destination(part: &str) -> anyhow::Result<Destination> {
    // A JWT has no colon, so the token is what follows the last one.
    let (place, token) = part
        .rsplit_once(':')
        .context("expected CHANNEL:TOKEN or CHANNEL@ADDR#CERT:TOKEN")?;
    Ok(Destination {
        target: target(place)?,
        token: token.to_owned(),
    })
}

fn target(place: &str) -> anyhow::Result<Target> {
    Ok(match place.split_once('@') {
        None => Target {
            channel: place.to_owned(),
            server: None,
        },
        Some((channel, server)) => {
            let (addr, cert) = server
                .split_once('#')
                .context("another server is ADDR#CERT (a PEM file or sha256:HEX)")?;
            let addr: SocketAddr = addr
                .parse()
                .with_context(|| format!("{addr:?} is not an address like 127.0.0.1:4443"))?;
            Target {
                channel: channel.to_owned(),
                server: Some(Remote {
                    addr,
                    pin: pin(cert)?,
                }),
            }
        }
    })
}

/// The SHA-256 pin of `cert`: given as `sha256:HEX`, or the first certificate of a PEM file.
fn pin(cert: &str) -> anyhow::Result<[u8; 32]> {
    if let Some(pin) = parse_fingerprint(cert.as_bytes())? {
        return Ok(pin);
    }
    let pem = std::fs::read(Path::new(cert)).with_context(|| format!("cannot read {cert}"))?;
    let first = certs_from_pem(&pem)?
        .into_iter()
        .next()
        .with_context(|| format!("no certificate in {cert}"))?;
    Ok(fingerprint(&first))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn same_server_and_pinned_destinations_parse() {
        let pin = format!("sha256:{}", "ab".repeat(32));
        let spec = format!("b:aaa.bbb.ccc, c@127.0.0.1:4444#{pin}:ddd.eee.fff");
        let d = parse(&spec).unwrap();
        assert_eq!(d[0].target.channel, "b");
        assert_eq!(d[0].token, "aaa.bbb.ccc");
        assert!(d[0].target.server.is_none());
        let remote = d[1].target.server.unwrap();
        assert_eq!(remote.addr, "127.0.0.1:4444".parse().unwrap());
        assert_eq!(remote.pin, [0xab; 32]);
        assert_eq!(d[1].token, "ddd.eee.fff");
        assert!(parse("b").is_err());
        let pinned = format!("b, c@127.0.0.1:4444#{pin}");
        assert_eq!(
            parse_targets(&pinned).unwrap()[1].server.unwrap().pin,
            [0xab; 32]
        );
        assert!(parse_targets("c@127.0.0.1:1#no-such-file.pem").is_err());
        assert!(parse("b@nowhere#x:t").is_err());
        assert!(parse("").is_err());
    }
}
