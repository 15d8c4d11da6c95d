//! RTMP publish URLs: `rtmp://host[:port]/app[/more]/stream_key`.

use std::fmt;

/// The port RTMP uses when the URL names none.
pub const DEFAULT_PORT: u16 = 1935;

/// A checked RTMP publish URL.
///
/// The last path segment is the stream key; everything between the host and it is the
/// application (`live`, or `app/instance` on servers that nest them), which goes into the
/// `connect` command along with [`tc_url`](Self::tc_url).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Url {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Application path, without leading or trailing `/`.
    pub app: String,
    /// Stream key (may carry a `?query` some CDNs use for authentication).
    pub stream: String,
    /// `rtmp://host[:port]/app`, as sent in `connect`.
    pub tc_url: String,
}

/// Why a string is not an RTMP publish URL; each message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not `rtmp://`.
    #[error("{0:?} is not an RTMP URL; write rtmp://host[:port]/app/stream_key")]
    Scheme(String),
    /// `rtmps://` (RTMP over TLS) is not supported yet.
    #[error("rtmps:// (RTMP over TLS) is not supported yet; use an rtmp:// ingest URL")]
    Tls,
    /// No host.
    #[error("{0:?} names no host; write rtmp://host[:port]/app/stream_key")]
    Host(String),
    /// A port that is not a number in 1..=65535.
    #[error("{0:?} has a bad port; use a number from 1 to 65535, or leave it out for 1935")]
    Port(String),
    /// No application or no stream key.
    #[error("{0:?} lacks an application or a stream key; write rtmp://host[:port]/app/stream_key")]
    Path(String),
    /// Whitespace or control characters.
    #[error("{0:?} contains spaces or control characters; copy the URL again")]
    Characters(String),
}

impl Url {
    /// Parses and checks `text`.
    ///
    /// # Errors
    ///
    /// An [`Error`] saying what is wrong and how the URL should look.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Characters(text.to_owned()));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(Error::Scheme(text.to_owned()));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "rtmp" => {}
            "rtmps" => return Err(Error::Tls),
            _ => return Err(Error::Scheme(text.to_owned())),
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = split_host_port(authority).ok_or_else(|| Error::Port(text.into()))?;
        if host.is_empty() || host.contains('@') {
            return Err(Error::Host(text.to_owned()));
        }
        let path = path.trim_end_matches('/');
        let Some((app, stream)) = path.rsplit_once('/') else {
            return Err(Error::Path(text.to_owned()));
        };
        let app = app.trim_matches('/');
        if app.is_empty() || stream.is_empty() {
            return Err(Error::Path(text.to_owned()));
        }
        let authority = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let tc_url = if port == DEFAULT_PORT {
            format!("rtmp://{authority}/{app}")
        } else {
            format!("rtmp://{authority}:{port}/{app}")
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            app: app.to_owned(),
            stream: stream.to_owned(),
            tc_url,
        })
    }

    /// The URL with the stream key hidden, for logs and status reports.
    pub fn redacted(&self) -> String {
        format!("{}/***", self.tc_url)
    }
}

impl std::str::FromStr for Url {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tc_url, self.stream)
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` for a bad port.
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0)?,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_url_defaults_to_port_1935() {
        let url = Url::parse("rtmp://a.rtmp.youtube.com/live2/abcd-efgh").expect("valid");
        assert_eq!(url.host, "a.rtmp.youtube.com");
        assert_eq!(url.port, 1935);
        assert_eq!(url.app, "live2");
        assert_eq!(url.stream, "abcd-efgh");
        assert_eq!(url.tc_url, "rtmp://a.rtmp.youtube.com/live2");
        assert_eq!(url.to_string(), "rtmp://a.rtmp.youtube.com/live2/abcd-efgh");
        assert_eq!(url.redacted(), "rtmp://a.rtmp.youtube.com/live2/***");
    }

    #[test]
    fn a_port_a_nested_app_and_a_query_are_kept() {
        let url = Url::parse("RTMP://127.0.0.1:19350/app/inst/key?token=x").expect("valid");
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 19350));
        assert_eq!(url.app, "app/inst");
        assert_eq!(url.stream, "key?token=x");
        assert_eq!(url.tc_url, "rtmp://127.0.0.1:19350/app/inst");
    }

    #[test]
    fn ipv6_hosts_are_bracketed_in_tc_url() {
        let url = Url::parse("rtmp://[::1]:2000/live/k").expect("valid");
        assert_eq!(url.host, "::1");
        assert_eq!(url.port, 2000);
        assert_eq!(url.tc_url, "rtmp://[::1]:2000/live");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("http://host/live/key", "not an RTMP URL"),
            ("rtmps://host/live/key", "not supported yet"),
            ("rtmp:///live/key", "no host"),
            ("rtmp://host:0/live/key", "bad port"),
            ("rtmp://host:99999/live/key", "bad port"),
            ("rtmp://host:abc/live/key", "bad port"),
            ("rtmp://host/live", "stream key"),
            ("rtmp://host/live/", "stream key"),
            ("rtmp://host", "stream key"),
            ("rtmp://host/live/my key", "spaces"),
            ("not a url", "spaces"),
            ("host/live/key", "not an RTMP URL"),
        ];
        for (text, expected) in cases {
            let message = Url::parse(text).expect_err(text).to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
