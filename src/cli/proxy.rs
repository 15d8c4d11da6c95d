//! `livestage proxy`: the seeded UDP impairment proxy, for trying a client on a bad network.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use livestage_net::proxy::{Burst, Config, Impairment, Proxy};

/// Flags of `livestage proxy`. Impairments apply to both directions.
#[derive(clap::Args)]
pub struct Args {
    /// Where clients send.
    #[arg(long, default_value = "127.0.0.1:4444")]
    listen: SocketAddr,
    /// The server behind the proxy.
    #[arg(long, default_value = "127.0.0.1:4443")]
    upstream: SocketAddr,
    /// Independent loss probability per packet (0..1).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Burst loss: probability per packet of entering a loss burst.
    #[arg(long)]
    burst_enter: Option<f64>,
    /// Burst loss: probability per packet of leaving a loss burst.
    #[arg(long, default_value_t = 0.3)]
    burst_leave: f64,
    /// One-way delay in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Extra uniform random delay up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Probability a packet is held back so later ones overtake it.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// Bottleneck rate in kilobits per second (unlimited when absent).
    #[arg(long)]
    rate_kbps: Option<u64>,
    /// Bottleneck queue, in milliseconds of backlog, beyond which datagrams are dropped.
    #[arg(long, default_value_t = 200)]
    queue_ms: u64,
    /// Seed for the loss and delay decisions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the link clean for this many seconds, then impair it (clients join first).
    #[arg(long, default_value_t = 0.0)]
    after: f64,
    /// Stop after this many seconds (runs until interrupted when absent).
    #[arg(long)]
    duration: Option<f64>,
}

/// Runs the proxy.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let impairment = Impairment {
        loss: args.loss,
        burst: args.burst_enter.map(|enter| Burst {
            enter,
            leave: args.burst_leave,
        }),
        delay: Duration::from_millis(args.delay_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        reorder: args.reorder,
        rate_bps: args.rate_kbps.map(|k| k * 1000),
        queue: Duration::from_millis(args.queue_ms),
    };
    let after = Duration::try_from_secs_f64(args.after)
        .map_err(|_| anyhow::anyhow!("--after {} is not a number of seconds", args.after))?;
    let clean = after > Duration::ZERO;
    let proxy = Proxy::spawn(Config {
        listen: args.listen,
        upstream: args.upstream,
        seed: args.seed,
        up: if clean {
            Impairment::default()
        } else {
            impairment.clone()
        },
        down: if clean {
            Impairment::default()
        } else {
            impairment.clone()
        },
    })?;
    if clean {
        proxy
            .handle()
            .set_impairment_after(after, impairment.clone(), impairment);
    }
    println!(
        "proxy listening on {} -> {}",
        proxy.local_addr(),
        args.upstream
    );
    let start = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        if args
            .duration
            .is_some_and(|d| start.elapsed().as_secs_f64() >= d)
        {
            break;
        }
    }
    let stats = proxy.handle().stats();
    println!("forwarded {} dropped {}", stats.forwarded, stats.dropped);
    Ok(ExitCode::SUCCESS)
}
