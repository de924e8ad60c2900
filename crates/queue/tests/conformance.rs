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
            async fn a_shutdown_hands_the_running_job_to_a_new_worker() {
                suite::a_shutdown_hands_the_running_job_to_a_new_worker::<$fixture>().await;
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
