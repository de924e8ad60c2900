//! Task records after they leave the API, and the schedules that create tasks: where they live,
//! how they change, and who may read them.
//!
//! The API creates, lists, reads and deletes [`TaskRecord`]s; workers move them through
//! `waiting → processing → success | fail` with *guarded* transitions ([`TaskStore::claim`],
//! [`TaskStore::progress`], [`TaskStore::finish`]) keyed by a run id, so a worker that has been
//! superseded (a redelivered job after a crash, a takeover) or whose task was deleted (cancelled)
//! finds out on its next report and stops, without ever overwriting a newer state.
//!
//! Schedules ([`ScheduleStore`]) keep the record of each fire time, which a scheduler claims for
//! a lease and then completes, so any number of schedulers create each task at most once.
//!
//! API keys, rate limits and the signing of download links are not records: they live in
//! `statport-access`. The signing *keys* are kept here ([`link_keys`]), in the task store every
//! process shares, so a link signed by one process verifies on any other.
//!
//! # Layout
//! - [`store`]: the [`TaskStore`] port, its queries ([`ListQuery`], [`TaskPage`]) and the
//!   transition inputs and outputs ([`Claim`], [`Outcome`]).
//! - `transition`: the pure rules every store applies, so all implementations agree.
//! - `cas`: the compare-and-set primitive each store implements (read a record with a version,
//!   write only if unchanged) and the guarded transitions applied once over it.
//! - [`admission`]: the per-tenant limits a new task is admitted under (unfinished, kept, same
//!   condition replaces), as a pure rule every store applies atomically.
//! - [`redis_store`]: [`RedisTaskStore`], the store shared by any number of processes; its
//!   `layout` (every key, tasks and schedules) and `record` (the hash field names, read and
//!   compare-and-set write both Redis stores use) serve the Redis schedule store too.
//! - [`sqlite_store`]: [`SqliteTaskStore`], the store of the embedded default, in one SQLite file
//!   that any number of processes may open.
//! - [`sqlite`]: [`open_sqlite`], the pool over that file (shared with the apalis-sqlite queue).
//! - [`memory`]: [`MemoryTaskStore`], the same semantics in one process (tests).
//! - [`schedule_store`]: the [`ScheduleStore`] port (recurring exports and the run of each fire
//!   time, claimed exactly once across schedulers) with [`MemoryScheduleStore`],
//!   [`RedisScheduleStore`] and [`SqliteScheduleStore`]; one suite
//!   (`tests/common/schedule_suite.rs`).
//! - [`link_keys`]: the [`LinkKeyStore`] port (the current and previous signing key of download
//!   links, created once and rotated atomically across processes) with [`MemoryLinkKeyStore`],
//!   [`RedisLinkKeyStore`] and [`SqliteLinkKeyStore`]; one suite (`tests/store/link_keys.rs`).
//! - [`outbox`]: the [`CallbackOutbox`] port: completion callbacks recorded with their tasks'
//!   ends, found when due, leased and settled by any process's sender; every task store
//!   implements it over its records and a due index (suite: `tests/common/outbox_suite.rs`).
//! - [`error`]: [`StoreError`], why a store call failed.
//!
//! Every task store passes the same conformance suite (`tests/common/suite.rs`).
//!
//! [`TaskRecord`]: statport_core::task::TaskRecord

pub mod admission;
mod cas;
pub mod error;
pub mod link_keys;
pub mod memory;
pub mod outbox;
pub mod redis_store;
pub mod schedule_store;
pub mod sqlite;
pub mod sqlite_store;
pub mod store;
mod transition;

pub use admission::{Admission, AdmissionLimits};
pub use error::StoreError;
pub use link_keys::{
    LinkKeyStore, LinkKeys, MemoryLinkKeyStore, RedisLinkKeyStore, SqliteLinkKeyStore,
    StoredLinkKey,
};
pub use memory::MemoryTaskStore;
pub use outbox::{CallbackOutbox, TaskRef};
pub use redis_store::{RedisTaskStore, DEFAULT_NAMESPACE};
pub use schedule_store::{
    FireClaim, FireResult, MemoryScheduleStore, RedisScheduleStore, ScheduleStore,
    SqliteScheduleStore, RUNS_KEPT,
};
pub use sqlite::open_sqlite;
pub use sqlite_store::SqliteTaskStore;
pub use store::{Claim, ListQuery, Outcome, TaskPage, TaskStore};
