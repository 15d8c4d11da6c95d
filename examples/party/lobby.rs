//! Setting the table: tokens, the narrator's and the seats' memberships, and join codes for a
//! second process (`--join CODE`). Runs once at startup.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use bevy::prelude::*;
use bevy_livestage::prelude::*;
use livestage_net::transport;

use crate::messages::NARRATOR;
use crate::narrator::{NarratorSeat, Table};
use crate::seat::{self, SeatKind};
use crate::{Options, STAGE};

/// Bot and seat names, in seating order.
pub const NAMES: [&str; 16] = [
    "ada", "bo", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo", "kai", "lu", "max", "ned",
    "oz", "pia",
];

/// How to reach a game: the server, how to trust it, and a token for one seat.
#[derive(Clone, Debug)]
pub struct Invite {
    /// The server's UDP address.
    pub addr: SocketAddr,
    /// Its certificate's PEM, or `sha256:` and its fingerprint.
    pub cert: String,
    /// A token for the seat.
    pub token: String,
}

impl Invite {
    /// The code a host prints: `ADDR~FINGERPRINT~TOKEN` (all URL-safe, one word to paste).
    pub fn code(&self) -> anyhow::Result<String> {
        let pin = fingerprint(&self.cert)?;
        let hex = pin.trim_start_matches(transport::FINGERPRINT_PREFIX);
        Ok(format!("{}~{hex}~{}", self.addr, self.token))
    }

    /// Reads `--join CODE`, or `--join ADDR --token T --cert PEM_FILE|sha256:..`.
    pub fn parse(join: &str, token: Option<&str>, cert: Option<&str>) -> anyhow::Result<Self> {
        let parts: Vec<&str> = join.split('~').collect();
        match parts.as_slice() {
            [addr, hex, token] => Ok(Self {
                addr: addr
                    .parse()
                    .context("the join code's address is not ADDR:PORT")?,
                cert: format!("{}{hex}", transport::FINGERPRINT_PREFIX),
                token: (*token).to_owned(),
            }),
            [addr] => Ok(Self {
                addr: addr
                    .parse()
                    .context("--join takes a join code or the server's ADDR:PORT")?,
                cert: read_cert(cert.context("--join ADDR needs --cert")?)?,
                token: token.context("--join ADDR needs --token")?.to_owned(),
            }),
            _ => bail!("this is not a join code (expected ADDR~FINGERPRINT~TOKEN)"),
        }
    }
}

/// A `--cert` argument: a `sha256:` fingerprint as it is, or a PEM file's contents.
pub fn read_cert(arg: &str) -> anyhow::Result<String> {
    if arg.starts_with(transport::FINGERPRINT_PREFIX) {
        transport::parse_fingerprint(arg.as_bytes())?;
        return Ok(arg.to_owned());
    }
    std::fs::read_to_string(arg).with_context(|| format!("cannot read the certificate {arg}"))
}

/// The `sha256:` fingerprint of a PEM certificate (or the fingerprint itself).
fn fingerprint(cert: &str) -> anyhow::Result<String> {
    if cert.starts_with(transport::FINGERPRINT_PREFIX) {
        return Ok(cert.to_owned());
    }
    let certs = transport::certs_from_pem(cert.as_bytes())?;
    let first = certs
        .first()
        .context("the certificate PEM holds no certificate")?;
    Ok(transport::format_fingerprint(&transport::fingerprint(
        first,
    )))
}

/// Mints tokens for this game's seats: on the embedded server, or with the app secret of a
/// remote one (LIVESTAGE_SECRET).
#[derive(Resource)]
pub enum Minter {
    /// The embedded server mints.
    Embedded,
    /// Minted here with the remote server's secret.
    Secret {
        /// App id.
        app: String,
        /// App secret.
        secret: String,
    },
}

impl Minter {
    /// A token for `user` with `grants`, valid for six hours.
    pub fn token(&self, livestage: &Livestage, user: &str, grants: &str) -> anyhow::Result<String> {
        const TTL: u64 = 6 * 3600;
        match self {
            Self::Embedded => livestage.token(STAGE, user, grants, TTL),
            Self::Secret { app, secret } => {
                livestage_server::mint_token(app, secret, STAGE, user, grants, TTL)
            }
        }
    }
}

pub(crate) fn setup(mut commands: Commands, livestage: Res<Livestage>, options: Res<Options>) {
    if let Err(e) = set_table(&mut commands, &livestage, &options) {
        error!("party: {e:#}");
        eprintln!("party: {e:#}");
        commands.write_message(AppExit::error());
    }
}

fn set_table(
    commands: &mut Commands,
    livestage: &Livestage,
    options: &Options,
) -> anyhow::Result<()> {
    if let Some(join) = &options.join {
        // A guest process: one seat, whoever the token says it is.
        let invite = Invite::parse(join, options.token.as_deref(), options.cert.as_deref())?;
        let claims = livestage_proto::token::peek(&invite.token)
            .map_err(|e| anyhow::anyhow!("the join code's token is unreadable: {e}"))?;
        let kind = if claims.sub.starts_with("spectator") {
            SeatKind::Spectator
        } else {
            SeatKind::Player
        };
        let human = options.bots == 0 || options.play.is_some() || !options.headless;
        seat::spawn(commands, &claims.sub, kind, invite.token, human, options);
        return Ok(());
    }
    let minter = match options.server {
        None => Minter::Embedded,
        Some(_) => Minter::Secret {
            app: options.app.clone(),
            secret: std::env::var("LIVESTAGE_SECRET").context(
                "--server needs LIVESTAGE_SECRET (the server's app secret) to mint tokens",
            )?,
        },
    };
    let narrator = commands.spawn((Channel::new(STAGE), NarratorSeat)).id();
    let token = minter.token(livestage, NARRATOR, grants::MODERATOR)?;
    commands.trigger(Join::host(narrator, token));

    let players: Vec<String> = NAMES
        .iter()
        .take(options.bots.min(NAMES.len()))
        .map(|n| (*n).to_owned())
        .collect();
    for name in &players {
        let token = minter.token(livestage, name, grants::HOST)?;
        let human = options.play.as_deref() == Some(name.as_str());
        seat::spawn(commands, name, SeatKind::Player, token, human, options);
    }
    let spectators: Vec<String> = (1..=options.spectators)
        .map(|i| format!("spectator-{i}"))
        .collect();
    for name in &spectators {
        // Host grants so the narrator can invite them on stage; they join as audience.
        let token = minter.token(livestage, name, grants::HOST)?;
        seat::spawn(commands, name, SeatKind::Spectator, token, false, options);
    }
    if !options.headless || options.codes.is_some() || options.web.is_some() {
        print_codes(livestage, &minter, &players, spectators.len(), options)?;
    }
    commands.insert_resource(minter);
    commands.insert_resource(Table::new(narrator, players, spectators, options));
    Ok(())
}

/// Join codes for a second process: any seat (it replaces the bot), or a new spectator.
fn print_codes(
    livestage: &Livestage,
    minter: &Minter,
    players: &[String],
    spectators: usize,
    options: &Options,
) -> anyhow::Result<()> {
    let Some(server) = livestage.server() else {
        return Ok(());
    };
    let cert = String::from_utf8_lossy(&server.cert_pem).into_owned();
    let invite = |user: &str| -> anyhow::Result<String> {
        Invite {
            addr: server.addr,
            cert: cert.clone(),
            token: minter.token(livestage, user, grants::HOST)?,
        }
        .code()
    };
    let spectator = format!("spectator-{}", spectators + 1);
    if let Some(path) = &options.codes {
        let mut codes = std::collections::BTreeMap::new();
        for user in players.iter().chain(std::iter::once(&spectator)) {
            codes.insert(user.clone(), invite(user)?);
        }
        std::fs::write(path, serde_json::to_vec_pretty(&codes)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(at) = options.web {
        // A browser spectator watches only: its token grants joining, nothing more.
        let code = Invite {
            addr: server.addr,
            cert: cert.clone(),
            token: minter.token(livestage, "spectator-web", grants::AUDIENCE)?,
        }
        .code()?;
        let files = livestage_server::page::Files::load(&livestage_server::page::root(None))?;
        let at = livestage_server::page::serve_on_thread(at, files)?;
        println!("Watch from a browser: http://{at}/?code={code}");
    }
    if options.headless {
        return Ok(());
    }
    println!("Join this game from another terminal:");
    for name in players.iter().take(2) {
        println!(
            "  as {name}:  cargo run --release --example party -- --join {}",
            invite(name)?
        );
    }
    println!(
        "  as a spectator:  cargo run --release --example party -- --join {}",
        invite(&spectator)?
    );
    Ok(())
}
