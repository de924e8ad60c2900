//! The suite's SQLite fixture: apalis-sqlite on a fresh temp file (WAL, 5 s busy timeout), as
//! the binary will open it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::TaskSink;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;
use statport_core::task::ExportJob;
use statport_queue::dead_letter::SqliteDeadLetters;
use statport_queue::finished::SqliteFinishedJobs;
use statport_queue::sqlite::{setup, storage, worker_backend, SqliteQueue};
use statport_queue::{
    run_workers, CancellationToken, DeadLetters, FinishedJobs, JobHandler, JobQueue, QueueSettings,
};

use super::{Fixture, Workers};

/// One test's queue in its own SQLite file.
pub struct SqliteFixture {
    pool: SqlitePool,
    dir: PathBuf,
    settings: QueueSettings,
}

impl Fixture for SqliteFixture {
    async fn new(mut settings: QueueSettings) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("statport-queue-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let options = SqliteConnectOptions::new()
            .filename(dir.join("statport.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .expect("open the sqlite file");
        setup(&pool).await.expect("migrations");
        settings.name = format!("statport-test-queue-{id}");
        SqliteFixture {
            pool,
            dir,
            settings,
        }
    }

    fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    fn queue(&self) -> Arc<dyn JobQueue> {
        Arc::new(SqliteQueue::new(&self.pool, &self.settings))
    }

    async fn push_bulk(&self, jobs: Vec<ExportJob>) {
        storage(&self.pool, &self.settings)
            .push_bulk(jobs)
            .await
            .expect("bulk push");
    }

    async fn waiting(&self) -> usize {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM Jobs WHERE job_type = ?1 AND status IN ('Pending', 'Queued')",
        )
        .bind(&self.settings.name)
        .fetch_one(&self.pool)
        .await
        .expect("count");
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    fn dead_letters(&self) -> Arc<dyn DeadLetters> {
        Arc::new(SqliteDeadLetters::new(self.pool.clone(), &self.settings))
    }

    fn finished(&self) -> Arc<dyn FinishedJobs> {
        Arc::new(SqliteFinishedJobs::new(
            self.pool.clone(),
            &self.settings,
            Duration::ZERO,
        ))
    }

    fn start(&self, handler: Arc<dyn JobHandler>, stop: CancellationToken) -> Workers {
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(run_workers(
            worker_backend(&self.pool, &self.settings),
            handler,
            self.settings.clone(),
            stop,
            shutdown.clone(),
        ));
        Workers { shutdown, handle }
    }

    async fn cleanup(self) {
        self.pool.close().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
