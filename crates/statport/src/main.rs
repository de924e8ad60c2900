//! `statport`: the one binary. `api`, `worker` and `serve` run the service; `gen-logs` and
//! `hash-key` are tools.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use statport::config::Settings;
use statport::genlogs::{self, GenSpec};
use statport::services::{object_store, Services};
use statport::shutdown;
use statport_core::time::{parse_rfc3339, DAY_MS};
use tracing::info;
use tracing_subscriber::EnvFilter;

/// CDN log statistics exports.
#[derive(Debug, Parser)]
#[command(name = "statport", version, about)]
struct Cli {
    /// A TOML file overriding config/default.toml (environment STATPORT__… overrides both).
    #[arg(long, global = true, env = "STATPORT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API.
    Api {
        /// Listen address (overrides api.listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Run export workers.
    Worker,
    /// Run the API and the workers in one process.
    Serve {
        /// Listen address (overrides api.listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Write realistic CloudFront log files to S3 (the tenant's log source) or a folder.
    GenLogs(GenLogsArgs),
    /// End-to-end benchmark: a day of generated logs through the real service, numbers checked.
    Bench {
        /// Lines per hourly file (24 files; the default makes about a million lines).
        #[arg(long, default_value_t = 41_667)]
        lines_per_hour: u64,
        /// Distinct domains.
        #[arg(long, default_value_t = 20)]
        hosts: u32,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print the SHA-256 hex of an API key, for tenants.<id>.api_key_hashes.
    HashKey {
        /// The key.
        key: String,
    },
}

#[derive(Debug, clap::Args)]
struct GenLogsArgs {
    /// Tenant whose log source (bucket and prefix) receives the files.
    #[arg(long, default_value = "demo")]
    tenant: String,
    /// Write into this folder instead of S3.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// First hour, RFC 3339 (default: yesterday 00:00 UTC).
    #[arg(long)]
    start: Option<String>,
    /// Number of hourly files.
    #[arg(long, default_value_t = 24)]
    hours: u32,
    /// Lines per hourly file.
    #[arg(long, default_value_t = 1000)]
    lines_per_hour: u64,
    /// Distinct domains.
    #[arg(long, default_value_t = 20)]
    hosts: u32,
    /// Every Nth line is garbage (0 = none).
    #[arg(long, default_value_t = 0)]
    bad_line_every: u64,
    /// Random seed (same seed, same files).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::HashKey { key } = &cli.command {
        println!("{}", statport_status::hash_api_key(key));
        return Ok(());
    }
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Command::Api {
        listen: Some(listen),
    }
    | Command::Serve {
        listen: Some(listen),
    } = &cli.command
    {
        settings.api.listen = listen.clone();
        settings.check()?;
    }
    match cli.command {
        Command::Api { .. } | Command::Worker | Command::Serve { .. } => {
            let (api, workers) = match cli.command {
                Command::Api { .. } => (true, false),
                Command::Worker => (false, true),
                _ => (true, true),
            };
            serve(settings, api, workers).await
        }
        Command::GenLogs(args) => gen_logs(&settings, args).await,
        Command::Bench {
            lines_per_hour,
            hosts,
            seed,
        } => {
            statport::bench::run(
                settings,
                statport::bench::BenchOptions {
                    lines_per_hour,
                    hosts,
                    seed,
                },
            )
            .await
        }
        Command::HashKey { .. } => Ok(()),
    }
}

/// Runs the API and/or the workers, with the readiness probe, until SIGINT or SIGTERM.
async fn serve(settings: Settings, api: bool, workers: bool) -> anyhow::Result<()> {
    let services = Services::connect(settings).await?;
    let listener = if api {
        Some(bind(&services.settings).await?)
    } else {
        None
    };
    let (trigger, stop) = shutdown::channel();
    let probe = async {
        services.run_probe(stop.clone().wait()).await;
        Ok::<(), anyhow::Error>(())
    };
    let api = async {
        match listener {
            Some(listener) => services.run_api(listener, stop.clone().wait()).await,
            None => Ok(()),
        }
    };
    let workers = async {
        if workers {
            services.run_workers(stop.clone().wait()).await
        } else {
            Ok(())
        }
    };
    let signal = async move {
        shutdown::signal().await;
        info!("shutting down");
        trigger.fire();
        Ok::<(), anyhow::Error>(())
    };
    tokio::try_join!(probe, api, workers, signal)?;
    Ok(())
}

async fn bind(settings: &Settings) -> anyhow::Result<tokio::net::TcpListener> {
    let addr = settings.listen_addr()?;
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} (api.listen)"))
}

async fn gen_logs(settings: &Settings, args: GenLogsArgs) -> anyhow::Result<()> {
    let start_ms = match &args.start {
        Some(text) => parse_rfc3339(text).with_context(|| {
            format!("--start must be RFC 3339 like 2026-11-24T00:00:00Z, not '{text}'")
        })?,
        None => {
            let now = statport_core::clock::Clock::now_ms(&statport_core::clock::SystemClock);
            now - now.rem_euclid(DAY_MS) - DAY_MS
        }
    };
    let spec = GenSpec {
        seed: args.seed,
        start_ms,
        hours: args.hours,
        lines_per_hour: args.lines_per_hour,
        hosts: args.hosts,
        bad_line_every: args.bad_line_every,
        ..GenSpec::default()
    };
    let started = std::time::Instant::now();
    let stats = match &args.dir {
        Some(dir) => genlogs::write_to_dir(dir, &spec)
            .with_context(|| format!("writing into {}", dir.display()))?,
        None => {
            let tenant = settings.tenants.get(&args.tenant).with_context(|| {
                format!(
                    "no tenant '{}' in the configuration (tenants.*)",
                    args.tenant
                )
            })?;
            let store = object_store(settings);
            genlogs::upload(
                store.as_ref(),
                &tenant.log_bucket,
                &tenant.log_prefix,
                &spec,
            )
            .await
            .with_context(|| format!("uploading to bucket '{}'", tenant.log_bucket))?
        }
    };
    println!(
        "wrote {} files, {} lines ({} garbage), {} bytes raw, {} bytes gzipped in {:.1}s",
        stats.files,
        stats.records + stats.bad_lines,
        stats.bad_lines,
        stats.raw_bytes,
        stats.gz_bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
