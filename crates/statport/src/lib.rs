//! The `statport` binary's library: configuration, wiring and tools, shared by `main.rs` and the
//! end-to-end tests.
//!
//! # Layout
//! - [`bench`]: the end-to-end benchmark (`statport bench`).
//! - [`callback`]: completion callbacks sent over HTTP, signed, retried with backoff (the
//!   workers' `TaskEnded` port).
//! - [`config`]: settings from the built-in defaults, a file, the environment and flags.
//! - [`layout_check`]: the start-up check that tenant ids are safe in keys and URLs and that no
//!   tenant's `log_prefix` lists another tenant's logs or the result files.
//! - [`services`]: connects the backends `[backends]` names (SQLite file, local folder, Redis,
//!   S3) as one bundle of ports per backend (`services::backends`), builds the submitter, the
//!   API state, the worker context and the scheduler over them, runs them.
//! - [`genlogs`]: realistic CloudFront and Huawei log files for demos, tests and the benchmark.
//! - [`genipdb`]: the IP database that places `genlogs`' clients (`statport gen-ipdb`).
//! - [`launch`]: a whole statport inside this process (tests, benchmark).
//! - [`shutdown`]: SIGINT / SIGTERM, and the one `CancellationToken` every part stops on.

pub mod bench;
pub mod callback;
pub mod config;
pub mod genipdb;
pub mod genlogs;
pub mod launch;
pub mod layout_check;
pub mod services;
pub mod shutdown;
