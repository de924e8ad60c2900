//! Starts a whole statport (API and workers) inside the current process on a given listener:
//! used by the end-to-end tests and the benchmark, through the same [`Services`] as `serve`.

use std::net::SocketAddr;

use crate::config::Settings;
use crate::services::Services;
use crate::shutdown::CancellationToken;

/// How long [`launch`] waits for Redis and the object store to answer.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// A statport running in this process.
#[derive(Debug)]
pub struct Running {
    /// `http://<addr>`.
    pub base_url: String,
    /// The address the API listens on.
    pub addr: SocketAddr,
    /// The connected services (stores, queue).
    pub services: Services,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Binds `127.0.0.1:0`, points `api.listen` / `api.public_url` at it, connects, waits until
/// Redis and the object store answer, and starts the API and the workers.
pub async fn launch(settings: Settings) -> anyhow::Result<Running> {
    launch_with(settings, LaunchOptions::default()).await
}

/// What [`launch_with`] starts and waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchOptions {
    /// Wait until Redis and the object store answer (else the process runs not ready, as one
    /// started during an outage does, until they answer).
    pub wait_ready: bool,
    /// Start export workers too (else API only, like `statport api`).
    pub workers: bool,
    /// Start a scheduler too, as `statport serve` does.
    pub scheduler: bool,
}

impl Default for LaunchOptions {
    /// Wait for readiness; API, workers and a scheduler.
    fn default() -> Self {
        LaunchOptions {
            wait_ready: true,
            workers: true,
            scheduler: true,
        }
    }
}

/// [`launch`] with [`LaunchOptions`].
pub async fn launch_with(
    mut settings: Settings,
    options: LaunchOptions,
) -> anyhow::Result<Running> {
    let wait_ready = options.wait_ready;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    settings.api.listen = addr.to_string();
    settings.api.public_url = format!("http://{addr}");
    settings.check()?;
    let services = Services::connect(settings).await?;
    let stop = CancellationToken::new();
    let probe = {
        let services = services.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            services.run_probe(stop).await;
            Ok(())
        })
    };
    if wait_ready
        && tokio::time::timeout(READY_WITHIN, services.readiness.wait_ready())
            .await
            .is_err()
    {
        stop.cancel();
        let r = &services.readiness;
        anyhow::bail!(
            "Redis or the object store did not answer within {READY_WITHIN:?}: task store {}, object store {}",
            r.task_store_error().unwrap_or_else(|| r.describe_task_store().to_owned()),
            r.object_store_error().unwrap_or_else(|| r.describe_object_store().to_owned())
        );
    }
    let api = {
        let services = services.clone();
        let stop = stop.clone();
        tokio::spawn(async move { services.run_api(listener, stop).await })
    };
    let mut tasks = vec![probe, api];
    if options.workers {
        let services = services.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(
            async move { services.run_workers(stop).await },
        ));
    }
    if options.scheduler {
        let services = services.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(
            async move { services.run_scheduler(stop).await },
        ));
    }
    Ok(Running {
        base_url: format!("http://{addr}"),
        addr,
        services,
        shutdown: stop,
        tasks,
    })
}

impl Running {
    /// Stops the API and the workers gracefully and waits for both.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        for task in self.tasks {
            task.await??;
        }
        Ok(())
    }
}
