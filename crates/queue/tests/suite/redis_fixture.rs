//! The suite's Redis fixture: a fresh queue name in the real Redis at `REDIS_URL`.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::TaskSink;
use redis::AsyncCommands;
use statport_core::task::ExportJob;
use statport_queue::dead_letter::RedisDeadLetters;
use statport_queue::finished::RedisFinishedJobs;
use statport_queue::redis::{
    config, connect, storage, worker_backend, ConnectionManager, RedisQueue,
};
use statport_queue::{
    run_workers, CancellationToken, DeadLetters, FinishedJobs, JobHandler, JobQueue, QueueSettings,
};

use super::{Fixture, Workers};

/// One test's queue in Redis.
pub struct RedisFixture {
    conn: ConnectionManager,
    settings: QueueSettings,
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_string())
}

impl Fixture for RedisFixture {
    async fn new(mut settings: QueueSettings) -> Self {
        let url = redis_url();
        let conn = tokio::time::timeout(Duration::from_secs(10), connect(&url))
            .await
            .unwrap_or_else(|_| panic!("redis at {url} did not answer within 10 s (set REDIS_URL)"))
            .unwrap_or_else(|e| panic!("redis at {url} is unreachable (set REDIS_URL): {e}"));
        settings.name = format!("statport-test-queue-{}", uuid::Uuid::new_v4().simple());
        RedisFixture { conn, settings }
    }

    fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    fn queue(&self) -> Arc<dyn JobQueue> {
        Arc::new(RedisQueue::new(self.conn.clone(), &self.settings))
    }

    async fn push_bulk(&self, jobs: Vec<ExportJob>) {
        storage(self.conn.clone(), &self.settings)
            .push_bulk(jobs)
            .await
            .expect("bulk push");
    }

    async fn waiting(&self) -> usize {
        let config = config(&self.settings);
        let mut conn = self.conn.clone();
        let scheduled: usize = conn
            .zcard(config.scheduled_jobs_set())
            .await
            .expect("zcard");
        let active: usize = conn.llen(config.active_jobs_list()).await.expect("llen");
        scheduled + active
    }

    fn dead_letters(&self) -> Arc<dyn DeadLetters> {
        Arc::new(RedisDeadLetters::new(
            self.conn.clone(),
            config(&self.settings),
        ))
    }

    fn finished(&self) -> Arc<dyn FinishedJobs> {
        Arc::new(RedisFinishedJobs::new(
            self.conn.clone(),
            config(&self.settings),
        ))
    }

    fn start(&self, handler: Arc<dyn JobHandler>, stop: CancellationToken) -> Workers {
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(run_workers(
            worker_backend(self.conn.clone(), &self.settings),
            handler,
            self.settings.clone(),
            stop,
            shutdown.clone(),
        ));
        Workers { shutdown, handle }
    }

    async fn cleanup(self) {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = {
            let mut iter = conn
                .scan_match::<_, String>(format!("{}:*", self.settings.name))
                .await
                .expect("scan");
            let mut keys = Vec::new();
            while let Some(key) = iter.next_item().await {
                keys.push(key.expect("key"));
            }
            keys
        };
        for chunk in keys.chunks(500) {
            let _: () = conn.del(chunk).await.expect("del");
        }
        let _: () = conn
            .zrem(
                "core:apalis:queues:list",
                format!("{}:workers", self.settings.name),
            )
            .await
            .expect("zrem");
    }
}
