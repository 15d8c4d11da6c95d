//! `livestage cameras`: the webcams `bot --publish video=camera:N` can take, with the formats,
//! sizes and rates each offers, as a table or as JSON.

use std::process::ExitCode;

use livestage_media::video::camera;
use serde_json::json;

/// Flags of `livestage cameras`.
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON (`{"cameras": [{"index", "name", "path", "modes": [{"format", "width",
    /// "height", "fps"}]}]}`) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Lists the cameras; fails with `camera_unavailable` and why when there is none.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cameras = match camera::devices() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", e.code());
            return Ok(ExitCode::from(1));
        }
    };
    if args.json {
        let value = json!({ "cameras": cameras });
        println!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    for c in &cameras {
        println!("camera:{}  {}  ({})", c.index, c.name, c.path);
        for m in &c.modes {
            let rates: Vec<String> = m.fps.iter().map(|f| format!("{f}")).collect();
            let usable = if m.format.is_supported() {
                ""
            } else {
                "  (not converted)"
            };
            println!(
                "  {:>5} {}x{} at {} fps{usable}",
                m.format.to_string(),
                m.width,
                m.height,
                rates.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
