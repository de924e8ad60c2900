//! The payload check both backends share: a stored job must decode as an [`ExportJob`].

use statport_core::task::ExportJob;

/// Whether `payload` decodes as an [`ExportJob`] (the Redis queue's payload check; a rejected
/// payload goes to the dead letters when fetched instead of stopping the worker).
pub fn check_payload(payload: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<ExportJob>(payload)
        .map(|_| ())
        .map_err(|e| format!("undecodable payload: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_export_job_passes() {
        assert!(check_payload(br#"{"tenant_id":"t","task_id":"x"}"#).is_ok());
        let err = check_payload(b"{not json").expect_err("garbage");
        assert!(err.starts_with("undecodable payload"), "{err}");
    }
}
