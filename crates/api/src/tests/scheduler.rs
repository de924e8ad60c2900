//! The scheduler over the in-process stores and a manual clock: a schedule whose tenant is gone
//! or whose template no longer validates records why on the schedule and its run, and a later
//! run that works clears the error.

use std::collections::HashMap;

use super::*;
use crate::scheduler::{Scheduler, SchedulerSettings};
use statport_core::log::format::LogFormat;
use statport_core::schedule::{RelativeWindow, ScheduleRecord, WindowUnit};
use statport_core::tenant::{LogSource, Tenant};

fn record(tenant: &str, template: Value) -> ScheduleRecord {
    ScheduleRecord {
        schedule_id: format!("s-{tenant}"),
        tenant_id: tenant.into(),
        name: "hourly".into(),
        cron: "0 * * * *".into(),
        time_zone: "UTC".into(),
        window: RelativeWindow {
            unit: WindowUnit::Hour,
            count: 1,
            time_zone: None,
        },
        template,
        paused: false,
        create_time: NOW,
        update_time: NOW,
        last_fire_time: None,
        last_error: None,
        skipped_fires: 0,
    }
}

fn scheduler(f: &Fixture, tenants: HashMap<String, Tenant>) -> Scheduler {
    Scheduler {
        state: f.state.clone(),
        tenants: Arc::new(tenants),
        owner: "test".into(),
        settings: SchedulerSettings {
            tick: std::time::Duration::from_secs(1),
            max_catch_up_ms: 24 * HOUR_MS,
            lease_ms: 60_000,
        },
    }
}

#[tokio::test]
async fn a_gone_tenant_or_an_invalid_template_is_recorded_on_the_schedule() {
    let f = fixture().await;
    f.state.objects.ensure_bucket("logs").await.expect("bucket");
    let t1 = Tenant::reading(LogSource {
        bucket: "logs".into(),
        prefix: String::new(),
        format: LogFormat::Cloudfront,
    });
    let schedules = &f.state.schedules;
    // "ghost" is not configured; t1's template names a domain that is not a host name.
    for r in [
        record("ghost", json!({"domain_name": "all", "interval": 300})),
        record("t1", json!({"domain_name": "not a host", "interval": 300})),
    ] {
        assert!(schedules.create(&r, 20).await.expect("create"));
    }
    let s = scheduler(&f, HashMap::from([("t1".to_string(), t1)]));
    let first_fire = NOW - NOW.rem_euclid(HOUR_MS) + HOUR_MS;
    f.clock.advance(first_fire - NOW + 1_000);
    let report = s.tick().await.expect("tick");
    assert_eq!((report.created, report.refused), (0, 2), "{report:?}");
    let ghost = schedules
        .get("ghost", "s-ghost")
        .await
        .expect("get")
        .expect("there");
    let error = ghost.last_error.expect("an error");
    assert_eq!(error.error_code, "StatPort.TenantNotConfigured");
    assert_eq!(error.fire_time, first_fire);
    assert_eq!(ghost.last_fire_time, Some(first_fire));
    let t1 = schedules
        .get("t1", "s-t1")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        t1.last_error.expect("an error").error_code,
        "InvalidHostnames"
    );
    let runs = schedules.runs("t1", "s-t1", 10).await.expect("runs");
    assert_eq!(runs.len(), 1);
    assert!(
        f.queue.0.lock().expect("queue").is_empty(),
        "no task was queued"
    );

    // Ticking again in the same hour changes nothing; the template fixed, the next hour's run
    // creates its task and clears the error.
    assert_eq!(s.tick().await.expect("tick"), Default::default());
    let mut fixed = schedules
        .get("t1", "s-t1")
        .await
        .expect("get")
        .expect("there");
    fixed.template = json!({"domain_name": "all", "interval": 300});
    assert!(schedules.create(&fixed, 20).await.expect("replace"));
    f.clock.advance(HOUR_MS);
    let report = s.tick().await.expect("tick");
    assert_eq!(report.created, 1, "{report:?}");
    let t1 = schedules
        .get("t1", "s-t1")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(t1.last_error, None);
    assert_eq!(f.queue.0.lock().expect("queue").len(), 1);
}
