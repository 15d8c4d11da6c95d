//! Where the server may connect for pushes and injects: the configuration's allow-list, never
//! whatever a client names. An entry is a URL prefix (`rtmp://cdn.example.com/live/`) that
//! matches whole path segments or ports, so `rtmp://cdn.example.com` does not allow
//! `rtmp://cdn.example.com.evil.net/`; dev mode without entries allows loopback hosts.

use serde::Deserialize;

/// An allow-list as written in TOML (`[push] allow = [...]`, `[inject] allow = [...]`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// URL prefixes (and, for injects, file folders) the server may use.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Also allow any loopback host (127.0.0.0/8, ::1, localhost); what `serve --dev` sets
    /// when no `--allow` is given.
    #[serde(default)]
    pub loopback: bool,
}

impl Allow {
    /// Checks `url`; the error says why it is refused and how to allow it.
    pub fn url(&self, url: &str) -> Result<(), String> {
        if self.loopback && host(url).is_some_and(is_loopback) {
            return Ok(());
        }
        if self.allow.iter().any(|prefix| matches_prefix(url, prefix)) {
            return Ok(());
        }
        Err(format!(
            "{url:?} is not on the server's allow-list; add a prefix of it to the config's \
             `allow` (or `serve --allow`)"
        ))
    }
}

/// Why a file path is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum PathRefused {
    /// Outside every allowed folder (whether or not it exists is not told).
    NotAllowed(String),
    /// Inside an allowed folder, but there is no such file.
    NotFound(String),
}

impl Allow {
    /// Checks a file path for an inject: with symbolic links and `..` resolved, it must lie
    /// inside one of the folders on the list (entries without `://`) and exist. Loopback does
    /// not cover files: a file is only ever allowed by a folder named in the config. Whether
    /// a file outside the folders exists is never told. Returns the resolved path, which is
    /// what the inject opens.
    pub fn path(&self, path: &str) -> Result<std::path::PathBuf, PathRefused> {
        let path = std::path::Path::new(path);
        // A missing file is judged by its resolved folder, so `..` cannot step outside.
        let resolved = std::fs::canonicalize(path).ok().or_else(|| {
            let folder = std::fs::canonicalize(path.parent()?).ok()?;
            Some(folder.join(path.file_name()?))
        });
        let inside = resolved.as_ref().is_some_and(|resolved| {
            self.allow
                .iter()
                .filter(|entry| !entry.contains("://"))
                .filter_map(|folder| std::fs::canonicalize(folder).ok())
                .any(|folder| resolved.starts_with(folder))
        });
        match resolved {
            Some(resolved) if inside && resolved.is_file() => Ok(resolved),
            Some(_) if inside => Err(PathRefused::NotFound(format!(
                "{} is not a file on the server",
                path.display()
            ))),
            _ => Err(PathRefused::NotAllowed(format!(
                "{} is not inside a folder on the server's allow-list; add its folder to the \
                 config's `[inject] allow` (or `serve --allow`)",
                path.display()
            ))),
        }
    }
}

/// Whether `prefix` covers `url`: the same scheme (any case), then `url` continues the prefix
/// at a boundary (`/`, `:` or the end) unless the prefix itself ends with `/`.
fn matches_prefix(url: &str, prefix: &str) -> bool {
    let (Some((scheme, rest)), Some((p_scheme, p_rest))) =
        (url.split_once("://"), prefix.split_once("://"))
    else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(p_scheme) || p_rest.is_empty() {
        return false;
    }
    let Some(after) = rest.strip_prefix(p_rest) else {
        return false;
    };
    p_rest.ends_with('/') || after.is_empty() || after.starts_with(['/', ':', '?'])
}

/// The host of `scheme://host[:port]/...`, without brackets for IPv6.
fn host(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(prefixes: &[&str], loopback: bool) -> Allow {
        Allow {
            allow: prefixes.iter().map(|p| p.to_string()).collect(),
            loopback,
        }
    }

    #[test]
    fn prefixes_match_at_boundaries_only() {
        let a = allow(
            &["rtmp://cdn.example.com", "rtmp://b.example.com/live/"],
            false,
        );
        assert!(a.url("rtmp://cdn.example.com/live/key").is_ok());
        assert!(a.url("RTMP://cdn.example.com:1935/live/key").is_ok());
        assert!(a.url("rtmp://cdn.example.com.evil.net/live/key").is_err());
        assert!(a.url("rtmp://b.example.com/live/key").is_ok());
        assert!(a.url("rtmp://b.example.com/other/key").is_err());
        assert!(a.url("rtmps://cdn.example.com/live/key").is_err());
    }

    #[test]
    fn files_are_allowed_inside_listed_folders_only() {
        let dir = tempfile::tempdir().expect("test setup");
        let inside = dir.path().join("media");
        std::fs::create_dir(&inside).expect("test setup");
        std::fs::write(inside.join("film.mp4"), b"x").expect("test setup");
        std::fs::write(dir.path().join("secret"), b"x").expect("test setup");
        let folder = inside.to_str().expect("test setup");
        let a = allow(&[folder, "rtmp://cdn.example.com"], true);
        let film = format!("{folder}/film.mp4");
        assert_eq!(
            a.path(&film).expect("test setup"),
            inside.join("film.mp4").canonicalize().expect("test setup")
        );
        // `..` out of the folder and a missing file are refused, differently only inside
        // it; loopback does not allow files.
        let not_allowed = |r| matches!(r, Err(PathRefused::NotAllowed(_)));
        assert!(not_allowed(a.path(&format!("{folder}/../secret"))));
        assert!(not_allowed(a.path(&format!("{folder}/../missing"))));
        let missing = a.path(&format!("{folder}/missing.mp4"));
        assert!(matches!(missing, Err(PathRefused::NotFound(_))));
        assert!(matches!(a.path(folder), Err(PathRefused::NotFound(_))));
        assert!(not_allowed(allow(&[], true).path(&film)));
        // A sibling folder whose name starts like the allowed one is outside it.
        let sibling = dir.path().join("media2");
        std::fs::create_dir(&sibling).expect("test setup");
        std::fs::write(sibling.join("f.mp4"), b"x").expect("test setup");
        assert!(not_allowed(
            a.path(sibling.join("f.mp4").to_str().expect("test setup"))
        ));
    }

    #[test]
    fn loopback_covers_only_loopback_hosts() {
        let a = allow(&[], true);
        assert!(a.url("rtmp://127.0.0.1:1935/live/k").is_ok());
        assert!(a.url("rtmp://127.9.9.9/live/k").is_ok());
        assert!(a.url("rtmp://[::1]:1935/live/k").is_ok());
        assert!(a.url("rtmp://localhost/live/k").is_ok());
        assert!(a.url("rtmp://user@127.0.0.1/live/k").is_ok());
        assert!(a.url("rtmp://10.0.0.1/live/k").is_err());
        assert!(a.url("rtmp://127.0.0.1.nip.io/live/k").is_err());
        assert!(allow(&[], false).url("rtmp://127.0.0.1/live/k").is_err());
    }
}
