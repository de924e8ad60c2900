//! The `statport` binary's library: configuration, wiring and tools, shared by `main.rs` and the
//! end-to-end tests.
//!
//! # Layout
//! - [`config`]: settings from the built-in defaults, a file, the environment and flags.
//! - [`services`]: connects Redis and S3, builds the API state and the worker context, runs them.
//! - [`genlogs`]: realistic CloudFront log files for demos, tests and the benchmark.
//! - [`shutdown`]: SIGINT / SIGTERM as a future.

pub mod config;
pub mod genlogs;
pub mod services;
pub mod shutdown;
