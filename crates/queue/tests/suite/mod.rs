//! The queue conformance cases, generic over a [`Fixture`] (one backend's queue for one test).

pub mod redis_fixture;
pub mod sqlite_fixture;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use statport_core::task::ExportJob;
use statport_queue::{
    CancellationToken, DeadLetters, FinishedJobs, JobEnd, JobHandler, JobQueue, QueueSettings,
    RunnerError,
};

/// How long any awaited event may take before a case fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// The queue settings of a case: 1 s heartbeats, 2 missed beats (an orphan is re-run after
/// about 2 s), fast polling.
pub fn settings(name: String) -> QueueSettings {
    QueueSettings {
        name,
        heartbeat: Duration::from_secs(1),
        missed_heartbeats: 2,
        poll_interval: Duration::from_millis(50),
        concurrency: 2,
        job_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(5),
    }
}

/// One backend's queue for one test.
pub trait Fixture: Sized {
    /// A fresh queue with `settings` (their name is replaced by a unique one).
    fn new(settings: QueueSettings) -> impl Future<Output = Self>;
    /// Its settings.
    fn settings(&self) -> &QueueSettings;
    /// Its push side.
    fn queue(&self) -> Arc<dyn JobQueue>;
    /// Pushes `jobs` at once, with the backend's bulk push.
    fn push_bulk(&self, jobs: Vec<ExportJob>) -> impl Future<Output = ()>;
    /// Jobs not yet fetched (due or scheduled).
    fn waiting(&self) -> impl Future<Output = usize>;
    /// Its dead letters.
    fn dead_letters(&self) -> Arc<dyn DeadLetters>;
    /// Its finished-job records (SQLite: no retention).
    fn finished(&self) -> Arc<dyn FinishedJobs>;
    /// Starts `run_workers` on it with `handler`, whose runs watch `stop`.
    fn start(&self, handler: Arc<dyn JobHandler>, stop: CancellationToken) -> Workers;
    /// Removes what the test stored.
    fn cleanup(self) -> impl Future<Output = ()>;
}

/// A running `run_workers`.
pub struct Workers {
    /// Resolving it is the shutdown signal.
    pub shutdown: CancellationToken,
    /// Ends when the workers stopped.
    pub handle: tokio::task::JoinHandle<Result<(), RunnerError>>,
}

impl Workers {
    /// Signals shutdown and waits for a clean stop.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.handle)
            .await
            .expect("the workers stop within the deadline")
            .expect("joined")
            .expect("a clean stop");
    }
}

/// What a scripted run does.
#[derive(Debug, Clone)]
pub enum Step {
    /// Ends at once with this.
    End(JobEnd),
    /// Ends with `RetryAt(now + .0 ms)`.
    RetryIn(i64),
    /// Waits for the stop token, then ends with `RunAgainNow`.
    UntilStopped,
    /// Never ends (its worker must be killed).
    Forever,
}

/// One run a handler started.
#[derive(Debug, Clone)]
pub struct Run {
    /// The task of the job.
    pub task: String,
    /// When it started, ms since the epoch.
    pub started_ms: i64,
    /// The `RetryAt` time it ended with, if any.
    pub retry_at: Option<i64>,
    /// Whether it saw the stop token fire.
    pub stopped: bool,
}

/// Every run of one test, across workers.
pub type RunLog = Arc<Mutex<Vec<Run>>>;

/// A handler that follows `script(task, nth run of the task)` and logs its runs.
#[derive(Debug)]
pub struct Scripted {
    log: RunLog,
    script: fn(&str, usize) -> Step,
    stop: CancellationToken,
}

impl Scripted {
    /// A handler logging to `log`, whose runs watch `stop`.
    pub fn new(
        log: &RunLog,
        script: fn(&str, usize) -> Step,
        stop: &CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Scripted {
            log: Arc::clone(log),
            script,
            stop: stop.clone(),
        })
    }

    fn record(&self, run: Run) -> usize {
        let mut log = self.log.lock().expect("log");
        let nth = log.iter().filter(|r| r.task == run.task).count();
        log.push(run);
        nth
    }

    fn amend(&self, task: &str, nth: usize, f: impl FnOnce(&mut Run)) {
        let mut log = self.log.lock().expect("log");
        if let Some(run) = log.iter_mut().filter(|r| r.task == task).nth(nth) {
            f(run);
        }
    }
}

#[async_trait]
impl JobHandler for Scripted {
    async fn run(&self, job: &ExportJob) -> JobEnd {
        let nth = self.record(Run {
            task: job.task_id.clone(),
            started_ms: now_ms(),
            retry_at: None,
            stopped: false,
        });
        match (self.script)(&job.task_id, nth) {
            Step::End(end) => end,
            Step::RetryIn(ms) => {
                let at = now_ms() + ms;
                self.amend(&job.task_id, nth, |r| r.retry_at = Some(at));
                JobEnd::RetryAt(at)
            }
            Step::UntilStopped => {
                self.stop.cancelled().await;
                self.amend(&job.task_id, nth, |r| r.stopped = true);
                JobEnd::RunAgainNow
            }
            Step::Forever => std::future::pending().await,
        }
    }
}

/// Now, ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The job of task `task`.
pub fn job(task: &str) -> ExportJob {
    ExportJob {
        tenant_id: "tenant-queue".into(),
        task_id: task.into(),
    }
}

/// The runs of `task` so far.
pub fn runs_of(log: &RunLog, task: &str) -> Vec<Run> {
    log.lock()
        .expect("log")
        .iter()
        .filter(|r| r.task == task)
        .cloned()
        .collect()
}

/// Waits until `task` has run `n` times; returns its runs. Panics after [`DEADLINE`].
pub async fn wait_for_runs(log: &RunLog, task: &str, n: usize) -> Vec<Run> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let runs = runs_of(log, task);
        if runs.len() >= n {
            return runs;
        }
        assert!(
            Instant::now() < deadline,
            "{task} ran {} times, not {n}, within {DEADLINE:?}",
            runs.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn always_done(_: &str, _: usize) -> Step {
    Step::End(JobEnd::Done)
}

/// A job pushed before or after the workers start reaches the handler.
pub async fn a_pushed_job_reaches_the_handler<F: Fixture>() {
    let fx = F::new(settings(String::new())).await;
    let queue = fx.queue();
    queue.push(job("early")).await.expect("push");
    let log = RunLog::default();
    let stop = CancellationToken::new();
    let workers = fx.start(Scripted::new(&log, always_done, &stop), stop);
    wait_for_runs(&log, "early", 1).await;
    queue.push(job("late")).await.expect("push");
    let runs = wait_for_runs(&log, "late", 1).await;
    assert_eq!(runs[0].task, "late");
    workers.stop().await;
    fx.cleanup().await;
}

/// A job that ended `Done` is not delivered again: jobs pushed after it, one of them due later
/// than the backends' first retry would come, all run while it stays at one run.
pub async fn an_acked_job_is_not_delivered_again<F: Fixture>() {
    let fx = F::new(settings(String::new())).await;
    let queue = fx.queue();
    let log = RunLog::default();
    let stop = CancellationToken::new();
    let workers = fx.start(Scripted::new(&log, always_done, &stop), stop);
    queue.push(job("once")).await.expect("push");
    wait_for_runs(&log, "once", 1).await;
    queue.push(job("after")).await.expect("push");
    queue
        .push_at(job("later"), now_ms() + 2_500)
        .await
        .expect("push");
    wait_for_runs(&log, "after", 1).await;
    wait_for_runs(&log, "later", 1).await;
    assert_eq!(runs_of(&log, "once").len(), 1, "delivered once");
    workers.stop().await;
    fx.cleanup().await;
}

fn error_then_done(_: &str, nth: usize) -> Step {
    if nth == 0 {
        Step::End(JobEnd::Error("flaky".into()))
    } else {
        Step::End(JobEnd::Done)
    }
}

/// `JobEnd::Error` makes the backend deliver the job again.
pub async fn an_error_is_retried_by_the_backend<F: Fixture>() {
    let fx = F::new(settings(String::new())).await;
    let log = RunLog::default();
    let stop = CancellationToken::new();
    let workers = fx.start(Scripted::new(&log, error_then_done, &stop), stop);
    fx.queue().push(job("flaky")).await.expect("push");
    wait_for_runs(&log, "flaky", 2).await;
    workers.stop().await;
    fx.cleanup().await;
}

fn retry_then_done(_: &str, nth: usize) -> Step {
    if nth == 0 {
        Step::RetryIn(1_500)
    } else {
        Step::End(JobEnd::Done)
    }
}

/// `JobEnd::RetryAt(t)` runs the job again, not before `t`.
pub async fn retry_at_runs_the_job_again_not_before_its_time<F: Fixture>() {
    let fx = F::new(settings(String::new())).await;
    let log = RunLog::default();
    let stop = CancellationToken::new();
    let workers = fx.start(Scripted::new(&log, retry_then_done, &stop), stop);
    fx.queue().push(job("later")).await.expect("push");
    let runs = wait_for_runs(&log, "later", 2).await;
    let at = runs[0].retry_at.expect("the first run asked for a retry");
    assert!(
        runs[1].started_ms >= at,
        "run again at {} ms, {} ms before its time",
        runs[1].started_ms,
        at - runs[1].started_ms
    );
    workers.stop().await;
    fx.cleanup().await;
}

fn again_then_done(_: &str, nth: usize) -> Step {
    if nth == 0 {
        Step::End(JobEnd::RunAgainNow)
    } else {
        Step::End(JobEnd::Done)
    }
}

/// `JobEnd::RunAgainNow` runs the job again without waiting for a timeout.
pub async fn run_again_now_runs_the_job_again_at_once<F: Fixture>() {
    let fx = F::new(settings(String::new())).await;
    let log = RunLog::default();
    let stop = CancellationToken::new();
    let workers = fx.start(Scripted::new(&log, again_then_done, &stop), stop);
    fx.queue().push(job("again")).await.expect("push");
    let runs = wait_for_runs(&log, "again", 2).await;
    let gap = runs[1].started_ms - runs[0].started_ms;
    assert!(gap < 1_000, "run again after {gap} ms");
    workers.stop().await;
    fx.cleanup().await;
}

fn abort_then_done(_: &str, nth: usize) -> Step {
    if nth == 0 {
        Step::End(JobEnd::Abort("crashed its worker too often".into()))
    } else {
        Step::End(JobEnd::Done)
    }
}

/// Waits until there are `n` dead letters; returns them.
async fn wait_for_letters(dead: &dyn DeadLetters, n: usize) -> Vec<statport_queue::DeadLetter> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let letters = dead.list().await.expect("list");
        if letters.len() >= n {
            return letters;
        }
        assert!(
            Instant::now() < deadline,
            "{} dead letters, not {n}",
            letters.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `JobEnd::Abort` puts the job in the dead letters, with its payload and reason; a requeue
/// runs it again (once).
pub async fn an_aborted_job_is_a_dead_letter_until_requeued<F: Fixture>() {
    let fx = F::new(settings(String::new())).await;
    let log = RunLog::default();
    let stop = CancellationToken::new();
    let workers = fx.start(Scripted::new(&log, abort_then_done, &stop), stop);
    let dead = fx.dead_letters();
    assert!(dead.list().await.expect("list").is_empty());
    fx.queue().push(job("doomed")).await.expect("push");
    let letters = wait_for_letters(dead.as_ref(), 1).await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert!(letter.payload.contains("doomed"), "{}", letter.payload);
    assert!(
        letter.reason.contains("crashed its worker too often"),
        "{}",
        letter.reason
    );
    assert!(letter.dead_at.is_some());
    assert_eq!(runs_of(&log, "doomed").len(), 1);

    assert!(dead.requeue(&letter.id).await.expect("requeue"));
    assert!(!dead.requeue(&letter.id).await.expect("requeue"), "once");
    assert!(!dead.requeue("no-such-job").await.expect("requeue"));
    wait_for_runs(&log, "doomed", 2).await;
    assert!(dead.list().await.expect("list").is_empty());
    assert_eq!(dead.requeue_all().await.expect("requeue all"), 0);
    workers.stop().await;
    fx.cleanup().await;
}

fn forever(_: &str, _: usize) -> Step {
    Step::Forever
}

/// A worker that stops heart-beating while it runs a job (its future dropped, as a killed
/// process) loses the job to another worker after heartbeat × missed beats.
pub async fn an_orphaned_job_is_run_by_another_worker<F: Fixture>() {
    let fx = F::new(settings(String::new())).await;
    let log = RunLog::default();
    let stop_a = CancellationToken::new();
    let a = fx.start(Scripted::new(&log, forever, &stop_a), stop_a);
    fx.queue().push(job("orphan")).await.expect("push");
    wait_for_runs(&log, "orphan", 1).await;
    a.handle.abort();
    let _ = a.handle.await;
    let killed = Instant::now();

    let stop_b = CancellationToken::new();
    let b = fx.start(Scripted::new(&log, always_done, &stop_b), stop_b);
    wait_for_runs(&log, "orphan", 2).await;
    eprintln!(
        "orphan re-run {:?} after its worker died (timeout {:?})",
        killed.elapsed(),
        fx.settings().orphan_after()
    );
    b.stop().await;
    fx.cleanup().await;
}

/// Waits until `n` runs (of any task) have started; panics after [`DEADLINE`].
async fn wait_for_any_runs(log: &RunLog, n: usize) {
    let deadline = Instant::now() + DEADLINE;
    while log.lock().expect("log").len() < n {
        assert!(Instant::now() < deadline, "{n} runs did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A worker whose slots are all busy takes no more jobs than it runs, and keeps heart-beating
/// for as long as it runs them: it used to fetch ten at once, keep the rest in its buffer, and
/// send no heartbeat while they waited there, so another worker took it for dead after
/// heartbeat × missed beats and ran its jobs again (see `FETCH_BATCH`).
pub async fn a_busy_worker_keeps_its_jobs_and_fetches_no_more_than_it_runs<F: Fixture>() {
    let fx = F::new(settings(String::new())).await;
    let log = RunLog::default();
    let stop_a = CancellationToken::new();
    let a = fx.start(Scripted::new(&log, forever, &stop_a), stop_a);
    fx.queue().push(job("busy-1")).await.expect("push");
    wait_for_runs(&log, "busy-1", 1).await;
    // One slot of two is free: the worker takes one of the three, the others stay queued.
    fx.push_bulk(vec![job("busy-2"), job("busy-3"), job("busy-4")])
        .await;
    wait_for_any_runs(&log, 2).await;
    assert_eq!(
        fx.waiting().await,
        2,
        "a busy worker fetched more than it runs"
    );

    // A second worker takes the other two; then both are full for three orphan timeouts, and a
    // worker taken for dead would show as its jobs queued again (nobody has a slot for them).
    let stop_b = CancellationToken::new();
    let b = fx.start(Scripted::new(&log, forever, &stop_b), stop_b);
    wait_for_any_runs(&log, 4).await;
    let window = fx.settings().orphan_after() * 3;
    let watched = Instant::now();
    while watched.elapsed() < window {
        assert_eq!(
            fx.waiting().await,
            0,
            "jobs of a busy worker were re-queued after {:?}",
            watched.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in ["busy-1", "busy-2", "busy-3", "busy-4"] {
        assert_eq!(runs_of(&log, task).len(), 1, "{task} ran twice");
    }
    a.handle.abort();
    b.handle.abort();
    let _ = a.handle.await;
    let _ = b.handle.await;
    fx.cleanup().await;
}

fn until_stopped(_: &str, _: usize) -> Step {
    Step::UntilStopped
}

/// The shutdown signal stops the workers and fires the token a running handler watches; the
/// job it hands back (`RunAgainNow`) is taken by a new worker long before a heartbeat timeout
/// could have freed it (30 s × 2 here).
pub async fn a_shutdown_hands_the_running_job_to_a_new_worker<F: Fixture>() {
    let mut slow_beats = settings(String::new());
    slow_beats.heartbeat = Duration::from_secs(30);
    let fx = F::new(slow_beats).await;
    let log = RunLog::default();
    let stop_a = CancellationToken::new();
    let a = fx.start(Scripted::new(&log, until_stopped, &stop_a), stop_a.clone());
    fx.queue().push(job("handed-back")).await.expect("push");
    wait_for_runs(&log, "handed-back", 1).await;
    assert!(!stop_a.is_cancelled());
    let stopping = Instant::now();
    a.stop().await;
    assert!(stop_a.is_cancelled(), "the runs' token fired");
    assert!(
        runs_of(&log, "handed-back")[0].stopped,
        "the run saw the token"
    );

    let stop_b = CancellationToken::new();
    let b = fx.start(Scripted::new(&log, always_done, &stop_b), stop_b);
    wait_for_runs(&log, "handed-back", 2).await;
    assert!(
        stopping.elapsed() < fx.settings().orphan_after(),
        "taken over after {:?}",
        stopping.elapsed()
    );
    b.stop().await;
    fx.cleanup().await;
}

fn abort_dead_ones(task: &str, _: usize) -> Step {
    if task.starts_with("dead") {
        Step::End(JobEnd::Abort("dead on arrival".into()))
    } else {
        Step::End(JobEnd::Done)
    }
}

/// Trimming removes the records of done jobs (once) and keeps the dead letters.
pub async fn finished_jobs_are_trimmed_and_dead_letters_kept<F: Fixture>() {
    let fx = F::new(settings(String::new())).await;
    let log = RunLog::default();
    let stop = CancellationToken::new();
    let workers = fx.start(Scripted::new(&log, abort_dead_ones, &stop), stop);
    let queue = fx.queue();
    queue.push(job("dead")).await.expect("push");
    wait_for_letters(fx.dead_letters().as_ref(), 1).await;
    for task in ["done-1", "done-2"] {
        queue.push(job(task)).await.expect("push");
    }
    let finished = fx.finished();
    let deadline = Instant::now() + DEADLINE;
    let mut trimmed = 0;
    while trimmed < 2 {
        trimmed += finished.trim().await.expect("trim");
        assert!(
            Instant::now() < deadline,
            "{trimmed} of 2 done jobs trimmed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(trimmed, 2, "the dead job is not trimmed");
    assert_eq!(finished.trim().await.expect("trim"), 0, "once");
    assert_eq!(fx.dead_letters().list().await.expect("list").len(), 1);
    workers.stop().await;
    fx.cleanup().await;
}

/// More than the ~8,000 values one Lua `unpack` can take (pitfall 5 of
/// `shared/design/APALIS-NOTES.md`): apalis-redis 1.0.0 promoted every due id with one
/// `unpack`, so such a backlog made every fetch fail and every worker die;
/// `vendor/apalis-redis` (see its `PATCHED.md`) promotes them in bounded chunks.
const BACKLOG: usize = 10_000;

/// A backlog of 10,000 due jobs is worked off, not fatal, and leaves nothing waiting.
pub async fn a_backlog_of_10000_due_jobs_is_worked_off<F: Fixture>() {
    let mut many = settings(String::new());
    many.concurrency = 16;
    // SQLite fetches one batch (`concurrency` jobs) per poll.
    many.poll_interval = Duration::from_millis(10);
    let fx = F::new(many).await;
    let started = Instant::now();
    fx.push_bulk((0..BACKLOG).map(|i| job(&format!("task-{i:05}"))).collect())
        .await;
    let pushed = started.elapsed();
    let log = RunLog::default();
    let stop = CancellationToken::new();
    let workers = fx.start(Scripted::new(&log, always_done, &stop), stop);
    // Redis works it off in ~3 s, SQLite in ~45 s (about 220 jobs/s in a debug build, however
    // many workers or however short the poll); the machine may be shared.
    let within = Duration::from_secs(300);
    let deadline = Instant::now() + within;
    let distinct = || {
        let log = log.lock().expect("log");
        log.iter()
            .map(|r| r.task.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    while distinct() < BACKLOG {
        assert!(
            Instant::now() < deadline,
            "{} of {BACKLOG} distinct jobs handled in {within:?}",
            distinct()
        );
        assert!(!workers.handle.is_finished(), "the workers died");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "{BACKLOG} jobs pushed in {pushed:?}, all handled after {:?}",
        started.elapsed()
    );
    workers.stop().await;
    assert_eq!(fx.waiting().await, 0, "jobs left waiting");
    fx.cleanup().await;
}
