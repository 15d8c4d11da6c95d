//! `livestage`: one binary for serving, minting tokens, bots, load runs, the impairment proxy
//! and the demo.

use clap::{Parser, Subcommand};

mod cli;

/// Interactive live streaming for games.
#[derive(Parser)]
#[command(name = "livestage", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a server.
    Serve(cli::serve::Args),
    /// Mint an access token.
    Token(cli::token::Args),
    /// A headless participant that joins, acts and writes a JSON report.
    Bot(cli::bot::Args),
    /// Many connections in one process, for capacity runs.
    Load(cli::load::Args),
    /// Push a channel to RTMP URLs (CDNs) with a layout, as a moderator, and report the states.
    Push(cli::push::Args),
    /// Publish a file on the server into a channel as `inject-<name>`, as a moderator, and
    /// report its states.
    Inject(cli::inject::Args),
    /// A UDP proxy that adds loss, delay, jitter, reordering and outages.
    Proxy(cli::proxy::Args),
    /// List the displays and windows a screen share can take.
    Screens(cli::screens::Args),
    /// List the webcams a bot can publish (`--publish video=camera:N`).
    Cameras(cli::cameras::Args),
    /// An embedded server with a few bots, narrating what happens.
    Demo(cli::demo::Args),
    /// Write raw stamped I420 test-pattern frames to stdout in real time (for measuring other
    /// pipelines, e.g. ffmpeg -> RTMP -> ffmpeg).
    Pattern(cli::pattern::PatternArgs),
    /// Read raw I420 frames from stdin and report the latency of their burned-in stamps.
    Stamps(cli::pattern::StampsArgs),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,quinn=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let result = match args.command {
        Command::Serve(a) => cli::serve::run(a),
        Command::Token(a) => cli::token::run(a),
        Command::Bot(a) => cli::bot::run(a),
        Command::Load(a) => cli::load::run(a),
        Command::Proxy(a) => cli::proxy::run(a),
        Command::Push(a) => cli::push::run(a),
        Command::Inject(a) => cli::inject::run(a),
        Command::Screens(a) => cli::screens::run(a),
        Command::Cameras(a) => cli::cameras::run(a),
        Command::Demo(a) => cli::demo::run(a),
        Command::Pattern(a) => cli::pattern::pattern(a),
        Command::Stamps(a) => cli::pattern::stamps(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
