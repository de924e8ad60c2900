//! Who may do what, apart from where records live: the API keys that name a tenant, the rate
//! limits its calls count against, and the signatures that make a download link good for a
//! while. The API authenticates and limits through here; the callbacks sign their links here.
//!
//! # Layout
//! - [`keys`]: [`hash_api_key`] and [`KeyRing`], API key to tenant (only hashes are configured).
//! - [`links`]: [`LinkSigner`], HMAC-SHA256 signatures for expiring download links, with the
//!   keys of a configured secret or of a [`LinkKeySource`] (the deployment's shared, rotating
//!   keys).
//! - [`rate_limit`]: the [`RateLimiter`] port (GCRA per key), [`RedisRateLimiter`] shared by all
//!   API processes and [`MemoryRateLimiter`] for one; both pass one suite
//!   (`rate_limit/tests.rs`).

pub mod keys;
pub mod links;
pub mod rate_limit;

pub use keys::{hash_api_key, KeyRing, KeyRingError};
pub use links::{
    LinkError, LinkKeySet, LinkKeySource, LinkSigner, PresentedLink, SignedLink, MIN_SECRET_BYTES,
};
pub use rate_limit::{Decision, LimiterError, MemoryRateLimiter, RateLimiter, RedisRateLimiter};
