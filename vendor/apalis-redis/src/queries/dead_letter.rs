use std::sync::LazyLock;

use apalis_core::worker::context::WorkerContext;
use redis::{Script, aio::ConnectionLike};

use crate::{Config, error::Error, queries::current_timestamp};

static DEAD_LETTER_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/dead_letter.lua")));

/// statport patch: moves the fetched task `task_id` out of `worker`'s inflight set into the
/// dead set, recording `reason` as its failed result.
pub(crate) async fn dead_letter<C: ConnectionLike>(
    conn: &mut C,
    worker: &WorkerContext,
    config: &Config,
    task_id: &str,
    reason: &str,
) -> Result<(), Error> {
    let result: Result<(), String> = Err(reason.to_owned());
    let result = serde_json::to_string(&result).map_err(Error::Json)?;
    DEAD_LETTER_SCRIPT
        .key(config.inflight_set_for(worker))
        .key(config.dead_jobs_set())
        .key(config.job_meta_hash())
        .arg(task_id)
        .arg(current_timestamp())
        .arg(result)
        .arg(if config.emit_events { "1" } else { "0" })
        .invoke_async::<u32>(conn)
        .await?;
    Ok(())
}
