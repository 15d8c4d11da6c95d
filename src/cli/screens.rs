//! `livestage screens`: the displays and windows a screen share can take (`bot --publish
//! screen=display:ID` / `screen=window:ID`), as a table or as JSON.

use std::process::ExitCode;

use livestage_media::video::screen;
use serde_json::json;

/// Flags of `livestage screens`.
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON (`{"displays": [...], "windows": [...]}`) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Lists displays and windows; fails with `screen_unavailable` and what is missing when there
/// is no X server to ask.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let displays = match screen::displays() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{}: {e}", e.code());
            return Ok(ExitCode::from(1));
        }
    };
    // A display without a window manager lists no windows; that is not an error.
    let windows = screen::windows().unwrap_or_default();
    if args.json {
        let value = json!({ "displays": displays, "windows": windows });
        println!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("displays (screen=display:ID):");
    for d in &displays {
        println!(
            "  {:>10}  {}x{} at {},{}  {}",
            d.id, d.width, d.height, d.x, d.y, d.name
        );
    }
    println!("windows (screen=window:ID):");
    for w in &windows {
        println!(
            "  {:#10x}  {}x{} at {},{}  {}",
            w.id, w.width, w.height, w.x, w.y, w.title
        );
    }
    Ok(ExitCode::SUCCESS)
}
