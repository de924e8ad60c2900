//! One conformance suite for the queue, run on both backends: apalis-redis against the real
//! Redis at `REDIS_URL` (default `redis://127.0.0.1:6379/`, a fresh queue name per test; these
//! tests fail when it is unreachable) and apalis-sqlite on a temp file.
//!
//! Each case is a generic async fn in [`suite`] over a [`suite::Fixture`]; the macro below
//! instantiates every case as `redis::<case>` and `sqlite::<case>`.

mod suite;

use suite::redis_fixture::RedisFixture;
use suite::sqlite_fixture::SqliteFixture;

macro_rules! conformance {
    ($backend:ident, $fixture:ty) => {
        mod $backend {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_pushed_job_reaches_the_handler() {
                suite::a_pushed_job_reaches_the_handler::<$fixture>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_acked_job_is_not_delivered_again() {
                suite::an_acked_job_is_not_delivered_again::<$fixture>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_error_is_retried_by_the_backend() {
                suite::an_error_is_retried_by_the_backend::<$fixture>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn retry_at_runs_the_job_again_not_before_its_time() {
                suite::retry_at_runs_the_job_again_not_before_its_time::<$fixture>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn run_again_now_runs_the_job_again_at_once() {
                suite::run_again_now_runs_the_job_again_at_once::<$fixture>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_aborted_job_is_a_dead_letter_until_requeued() {
                suite::an_aborted_job_is_a_dead_letter_until_requeued::<$fixture>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_orphaned_job_is_run_by_another_worker() {
                suite::an_orphaned_job_is_run_by_another_worker::<$fixture>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_busy_worker_keeps_its_jobs_and_fetches_no_more_than_it_runs() {
                suite::a_busy_worker_keeps_its_jobs_and_fetches_no_more_than_it_runs::<$fixture>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_shutdown_hands_the_running_job_to_a_new_worker() {
                suite::a_shutdown_hands_the_running_job_to_a_new_worker::<$fixture>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_backlog_of_10000_due_jobs_is_worked_off() {
                suite::a_backlog_of_10000_due_jobs_is_worked_off::<$fixture>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn finished_jobs_are_trimmed_and_dead_letters_kept() {
                suite::finished_jobs_are_trimmed_and_dead_letters_kept::<$fixture>().await;
            }
        }
    };
}

conformance!(redis, RedisFixture);
conformance!(sqlite, SqliteFixture);

/// apalis-sqlite's migrations run twice without harm, in their own table, and leave the pool's
/// durability alone (apalis's own `setup` would set `synchronous = OFF` on one connection).
#[tokio::test]
async fn sqlite_setup_is_idempotent_and_keeps_the_pools_durability() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let dir = std::env::temp_dir().join(format!(
        "statport-queue-setup-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let options = SqliteConnectOptions::new()
        .filename(dir.join("statport.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open");
    statport_queue::sqlite::setup(&pool).await.expect("setup");
    statport_queue::sqlite::setup(&pool)
        .await
        .expect("setup again");
    let (synchronous,): (i64,) = sqlx::query_as("PRAGMA synchronous")
        .fetch_one(&pool)
        .await
        .expect("pragma");
    assert_eq!(synchronous, 2, "FULL, the pool's default");
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&pool)
            .await
            .expect("tables");
    let tables: Vec<&str> = tables.iter().map(|(t,)| t.as_str()).collect();
    assert!(tables.contains(&"Jobs"), "{tables:?}");
    assert!(
        tables.contains(&statport_queue::sqlite::MIGRATIONS_TABLE),
        "{tables:?}"
    );
    assert!(!tables.contains(&"_sqlx_migrations"), "{tables:?}");
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
