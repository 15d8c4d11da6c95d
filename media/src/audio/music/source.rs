//! Where music comes from: a local path, or an `http(s)://` URL streamed while it plays. A URL
//! is read as it is needed through ureq; a seek opens the stream again at the byte it needs
//! with an HTTP range request (a server without ranges can only be played from the start).

use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

use symphonia::core::io::MediaSource;

use super::MusicError;

/// A file or a URL, as given by the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local file.
    Path(PathBuf),
    /// An `http://` or `https://` URL.
    Url(String),
}

impl Location {
    /// `http://` and `https://` are URLs; anything else is a path.
    pub fn parse(location: &str) -> Self {
        let lower = location.get(..8).unwrap_or(location).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Self::Url(location.to_owned())
        } else {
            Self::Path(PathBuf::from(location))
        }
    }

    /// The extension, a hint for the container probe.
    pub(super) fn extension(&self) -> Option<String> {
        let name = match self {
            Self::Path(p) => p.file_name()?.to_str()?.to_owned(),
            Self::Url(u) => u.split(['?', '#']).next()?.rsplit('/').next()?.to_owned(),
        };
        let (_, ext) = name.rsplit_once('.')?;
        Some(ext.to_ascii_lowercase())
    }

    /// Opens it for reading.
    pub(super) fn open(&self) -> Result<Box<dyn MediaSource>, MusicError> {
        match self {
            Self::Path(path) => match std::fs::File::open(path) {
                Ok(file) => Ok(Box::new(file)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    Err(MusicError::NotFound(path.display().to_string()))
                }
                Err(e) => Err(MusicError::Io(format!("{}: {e}", path.display()))),
            },
            Self::Url(url) => Ok(Box::new(HttpSource::open(url)?)),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(p) => write!(f, "{}", p.display()),
            Self::Url(u) => f.write_str(u),
        }
    }
}

/// An HTTP body read as a seekable stream.
struct HttpSource {
    url: String,
    agent: ureq::Agent,
    body: Box<dyn Read + Send + Sync>,
    position: u64,
    length: Option<u64>,
    ranges: bool,
}

/// How long a stalled stream may keep the decoder waiting before it fails.
const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl HttpSource {
    fn open(url: &str) -> Result<Self, MusicError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(None)
            .timeout_connect(Some(HTTP_TIMEOUT))
            .timeout_recv_body(Some(HTTP_TIMEOUT))
            .timeout_recv_response(Some(HTTP_TIMEOUT))
            .build()
            .into();
        let (body, length, ranges) = Self::request(&agent, url, 0)?;
        Ok(Self {
            url: url.to_owned(),
            agent,
            body,
            position: 0,
            length,
            ranges,
        })
    }

    /// GETs `url` from byte `from`: the body, the whole length and whether ranges work.
    #[allow(clippy::type_complexity)]
    fn request(
        agent: &ureq::Agent,
        url: &str,
        from: u64,
    ) -> Result<(Box<dyn Read + Send + Sync>, Option<u64>, bool), MusicError> {
        let mut request = agent.get(url);
        if from > 0 {
            request = request.header("Range", &format!("bytes={from}-"));
        }
        let response = request.call().map_err(|e| match e {
            ureq::Error::StatusCode(404) => MusicError::NotFound(url.to_owned()),
            ureq::Error::StatusCode(code) => MusicError::Io(format!("{url}: HTTP {code}")),
            e => MusicError::Io(format!("{url}: {e}")),
        })?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let ranges = header("accept-ranges").is_some_and(|v| v.contains("bytes"))
            || response.status() == 206;
        let length = header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .map(|len| len + from);
        Ok((Box::new(response.into_body().into_reader()), length, ranges))
    }
}

impl Read for HttpSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.body.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for HttpSource {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
            SeekFrom::End(d) => self.length.and_then(|l| l.checked_add_signed(d)),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek outside the stream"))?;
        if target == self.position {
            return Ok(target);
        }
        if !self.ranges {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the server does not take range requests",
            ));
        }
        let (body, _, _) = Self::request(&self.agent, &self.url, target)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.body = body;
        self.position = target;
        Ok(target)
    }
}

impl MediaSource for HttpSource {
    fn is_seekable(&self) -> bool {
        self.ranges
    }

    fn byte_len(&self) -> Option<u64> {
        self.length
    }
}
