//! `livestage token`: mint an access token.

use std::process::ExitCode;

/// Flags of `livestage token`.
#[derive(clap::Args)]
pub struct Args {
    /// The app secret (or set LIVESTAGE_SECRET).
    #[arg(long, env = "LIVESTAGE_SECRET", hide_env_values = true)]
    secret: String,
    /// The channel the token is bound to.
    #[arg(long)]
    channel: String,
    /// The user id the token is bound to.
    #[arg(long)]
    user: String,
    /// Comma-separated grants: join, publish-audio, publish-video, publish-data, moderator.
    #[arg(long, default_value = "join")]
    grants: String,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
    /// The app id.
    #[arg(long, default_value = "livestage")]
    app: String,
}

/// Prints the token.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let token = livestage_server::mint_token(
        &args.app,
        &args.secret,
        &args.channel,
        &args.user,
        &args.grants,
        args.ttl,
    )?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
