//! `statport`: the one binary. `api`, `worker` and `serve` run the service; `gen-logs`,
//! `gen-ipdb`, `dead-letters` and `hash-key` are tools.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use statport::config::Settings;
use statport::genlogs::{self, GenSpec};
use statport::services::{object_store, Services};
use statport::shutdown;
use statport_core::log::format::LogFormat;
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
    /// Run a scheduler (recurring exports); any number may run, each fire time makes one task.
    Scheduler,
    /// Run the API, the workers and a scheduler in one process.
    Serve {
        /// Listen address (overrides api.listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Write realistic CloudFront log files to S3 (the tenant's log source) or a folder.
    GenLogs(GenLogsArgs),
    /// Write the demo's IP database (MaxMind DB) placing every client `gen-logs` makes, for
    /// ip_database.path.
    GenIpdb {
        /// The file to write (its folder is made when missing).
        #[arg(long)]
        out: PathBuf,
    },
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
    /// List or requeue the jobs the queue gave up on (undecodable payloads, crash loops).
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
    /// Print the SHA-256 hex of an API key, for tenants.<id>.api_key_hashes.
    HashKey {
        /// The key.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLetterAction {
    /// One JSON object per dead job: id, payload, reason, dead_at (s since the epoch).
    List,
    /// Put dead jobs back on the queue, attempts reset.
    Requeue {
        /// The job id (from `list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every dead job.
        #[arg(long)]
        all: bool,
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
    /// Log format written: `cloudfront` or `huawei` (default: the tenant's `log_format`, or
    /// `cloudfront` with `--dir`).
    #[arg(long, value_parser = parse_log_format)]
    format: Option<LogFormat>,
}

/// `cloudfront` or `huawei`, as in the configuration's `log_format`.
fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "cloudfront" => Ok(LogFormat::Cloudfront),
        "huawei" => Ok(LogFormat::Huawei),
        other => Err(format!(
            "'{other}' is not a log format: use cloudfront or huawei"
        )),
    }
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
    let result = runtime.block_on(run(cli));
    // Runs still going after a timed-out shutdown are not waited for (their tasks come back
    // through the heartbeat timeout); the error above already makes the exit code non-zero.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::HashKey { key } = &cli.command {
        println!("{}", statport_access::hash_api_key(key));
        return Ok(());
    }
    if let Command::GenIpdb { out } = &cli.command {
        let bytes = statport::genipdb::write(out)?;
        println!("wrote {} ({bytes} bytes)", out.display());
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
        Command::Api { .. } | Command::Worker | Command::Scheduler | Command::Serve { .. } => {
            let roles = match cli.command {
                Command::Api { .. } => Roles {
                    api: true,
                    workers: false,
                    scheduler: false,
                },
                Command::Worker => Roles {
                    api: false,
                    workers: true,
                    scheduler: false,
                },
                Command::Scheduler => Roles {
                    api: false,
                    workers: false,
                    scheduler: true,
                },
                _ => Roles {
                    api: true,
                    workers: true,
                    scheduler: true,
                },
            };
            serve(settings, roles).await
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
        Command::DeadLetters { action } => dead_letters(&settings, action).await,
        Command::HashKey { .. } | Command::GenIpdb { .. } => Ok(()),
    }
}

/// What one process runs.
#[derive(Debug, Clone, Copy)]
struct Roles {
    api: bool,
    workers: bool,
    scheduler: bool,
}

/// Runs the API, the workers and/or a scheduler, with the readiness probe, until SIGINT or
/// SIGTERM.
async fn serve(settings: Settings, roles: Roles) -> anyhow::Result<()> {
    let services = Services::connect(settings).await?;
    let listener = if roles.api {
        Some(bind(&services.settings).await?)
    } else {
        None
    };
    let stop = shutdown::CancellationToken::new();
    let probe = async {
        services.run_probe(stop.clone()).await;
        Ok::<(), anyhow::Error>(())
    };
    let api = async {
        match listener {
            Some(listener) => services.run_api(listener, stop.clone()).await,
            None => Ok(()),
        }
    };
    let workers = async {
        if roles.workers {
            services.run_workers(stop.clone()).await
        } else {
            Ok(())
        }
    };
    let scheduler = async {
        if roles.scheduler {
            services.run_scheduler(stop.clone()).await
        } else {
            Ok(())
        }
    };
    let signal = async {
        shutdown::signal().await;
        info!("shutting down");
        stop.cancel();
        Ok::<(), anyhow::Error>(())
    };
    tokio::try_join!(probe, api, workers, scheduler, signal)?;
    Ok(())
}

async fn dead_letters(settings: &Settings, action: DeadLetterAction) -> anyhow::Result<()> {
    let dead = Services::connect(settings.clone()).await?.dead_letters();
    match action {
        DeadLetterAction::List => {
            for letter in dead.list().await? {
                println!("{}", serde_json::to_string(&letter)?);
            }
        }
        DeadLetterAction::Requeue { all: true, .. } => {
            println!("requeued {} dead jobs", dead.requeue_all().await?);
        }
        DeadLetterAction::Requeue { id, .. } => {
            let id = id.context("give a job id or --all")?;
            if !dead.requeue(&id).await? {
                anyhow::bail!("no dead job '{id}'");
            }
            println!("requeued {id}");
        }
    }
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
            let now =
                statport_core::time::clock::Clock::now_ms(&statport_core::time::clock::SystemClock);
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
        format: args
            .format
            .or_else(|| {
                let tenant = settings.tenants.get(&args.tenant);
                tenant.filter(|_| args.dir.is_none()).map(|t| t.log_format)
            })
            .unwrap_or(LogFormat::Cloudfront),
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
