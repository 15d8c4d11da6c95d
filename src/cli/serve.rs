//! `livestage serve`: run a server from flags and/or a TOML file; `--dev` makes its own
//! certificate and secret.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use livestage_proto::wire::Profile;
use livestage_server::{Config, Identity, glue, page, web};

/// Flags of `livestage serve`.
#[derive(clap::Args)]
pub struct Args {
    /// A TOML config file; flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// UDP address to listen on [default: 0.0.0.0:4443, or 127.0.0.1:4443 with --dev].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Development mode: a self-signed certificate (or --cert and --key, so a restarted server
    /// keeps its pin) and a secret from LIVESTAGE_SECRET or made up.
    #[arg(long)]
    dev: bool,
    /// Where --dev writes its certificate for clients to trust.
    #[arg(long, default_value = "livestage-dev-cert.pem")]
    cert_out: PathBuf,
    /// PEM certificate chain.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Most hosts per channel.
    #[arg(long)]
    host_cap: Option<usize>,
    /// Everyone a host in every channel (communication profile).
    #[arg(long)]
    communication: bool,
    /// A URL prefix (or, for injects, a folder) that CDN pushes, injects and relays may use
    /// (`livestage://ADDR` for another server a relay publishes to); repeatable, added to the
    /// config's `[push]`, `[inject]` and `[relay]` lists. With --dev and no --allow, loopback
    /// addresses (and files under the working directory) are allowed.
    #[arg(long = "allow", value_name = "PREFIX")]
    allow: Vec<String>,
    /// Also serve the browser demo page over plain HTTP on this loopback address (e.g.
    /// 127.0.0.1:8080) and print its URL.
    #[arg(long, value_name = "ADDR")]
    web: Option<SocketAddr>,
    /// The built demo page [default: web/dist, here or in the source tree].
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
    /// Refuse browsers: offer no WebTransport (HTTP/3) on the port.
    #[arg(long)]
    no_webtransport: bool,
}

/// Serves until interrupted.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    } else if args.dev && args.config.is_none() {
        config.listen = "127.0.0.1:4443".parse().expect("literal socket address");
    }
    config.cert = args.cert.or(config.cert);
    config.key = args.key.or(config.key);
    if let Some(cap) = args.host_cap {
        config.host_cap = cap;
    }
    if args.communication {
        config.profile = Profile::Communication;
    }
    if args.no_webtransport {
        config.webtransport = false;
    }
    config.push.allow.extend(args.allow.iter().cloned());
    config.inject.allow.extend(args.allow.iter().cloned());
    config.relay.allow.extend(args.allow.iter().cloned());
    if args.dev && args.allow.is_empty() {
        config.push.loopback = true;
        config.inject.loopback = true;
        config.relay.loopback = true;
    }
    let (identity, secret) = if args.dev {
        // A certificate given keeps its pin across restarts; otherwise a fresh one.
        let identity = match (&config.cert, &config.key) {
            (Some(cert), Some(key)) => Identity::load(cert, key)?,
            _ => Identity::self_signed()?,
        };
        std::fs::write(&args.cert_out, &identity.cert_pem)
            .with_context(|| format!("cannot write {}", args.cert_out.display()))?;
        println!("dev certificate written to {}", args.cert_out.display());
        let secret = match std::env::var("LIVESTAGE_SECRET") {
            Ok(s) if !s.is_empty() => s,
            _ => {
                let s = livestage_server::random_secret();
                println!("app secret (set LIVESTAGE_SECRET to choose it): {s}");
                s
            }
        };
        (identity, config.resolve_secret()?.unwrap_or(secret))
    } else {
        let (Some(cert), Some(key)) = (&config.cert, &config.key) else {
            bail!(
                "a certificate and key are required (--cert and --key, or cert/key in the config); use --dev to make one"
            );
        };
        let Some(secret) = config.resolve_secret()? else {
            bail!("no app secret: set `secret` or `secret_env` in the config");
        };
        (Identity::load(cert, key)?, secret)
    };
    livestage_server::config::check_secret(&secret)?;
    let page = match args.web {
        Some(addr) => Some((addr, page::Files::load(&page::root(args.web_root))?)),
        None => None,
    };
    let hash = identity.hash_hex();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let mut listener = glue::bind(config.listen, identity, config.core(&secret, livestage_server::random_seed()))?;
        listener.allow_pushes(config.push.clone(), &config.server_name);
        listener.allow_injects(config.inject.clone());
        listener.allow_relays(config.relay.clone());
        listener.serve_browsers(config.webtransport)?;
        let addr = listener.local_addr()?;
        println!("certificate sha-256 {hash}");
        if config.webtransport {
            println!("browsers: WebTransport on https://{}{}", loopback(addr), web::PATH);
        }
        if let Some((at, files)) = page {
            let at = page::serve(at, files).await?;
            println!("demo page: http://{at}/?server={}&hash={hash}&token=TOKEN", loopback(addr));
        }
        if args.dev {
            println!(
                "try: livestage bot --server {addr} --cert {} --token $(livestage token --secret <secret> --channel lobby --user alice --grants join,publish-data)",
                args.cert_out.display()
            );
        }
        // Last line on stdout: scripts wait for it, then may stop reading.
        println!("listening on {addr}");
        std::io::stdout().flush()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stop_tx.send(());
        });
        listener.run(stop_rx).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The address a browser on this machine reaches the server at.
fn loopback(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}
