//! The conformance suite every [`ScheduleStore`] must pass. Each scenario uses its own tenants,
//! so they can share one (empty) store.

use statport_core::schedule::{
    RunState, ScheduleError, ScheduleFailure, ScheduleRecord, ScheduleRun,
};
use statport_records::{FireClaim, FireResult, ScheduleStore, RUNS_KEPT};

use super::schedule;

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

/// One hour, the fire-time step of these schedules.
const HOUR: i64 = 3_600_000;

/// The scheduler lease used by the scenarios.
const LEASE: i64 = 60_000;

/// Runs every scenario against `store`.
pub async fn schedule_suite(store: &dyn ScheduleStore) {
    create_get_delete(store).await;
    tenants_are_isolated(store).await;
    list_orders_newest_first_and_pages(store).await;
    the_per_tenant_limit_holds(store).await;
    concurrent_creates_respect_the_limit(store).await;
    all_lists_every_tenant(store).await;
    pause_and_resume(store).await;
    a_paused_or_gone_schedule_cannot_be_claimed(store).await;
    concurrent_claims_of_one_fire_time_have_one_winner(store).await;
    a_passed_lease_is_taken_over_and_a_holding_one_is_not(store).await;
    only_the_owner_completes_and_the_schedule_follows(store).await;
    skipping_fires_is_idempotent(store).await;
    a_failure_is_recorded_until_the_next_completed_run(store).await;
    runs_are_newest_first_and_trimmed(store).await;
    delete_removes_the_runs(store).await;
}

fn refusal(fire_time: i64) -> ScheduleError {
    ScheduleError {
        fire_time,
        error_code: "StatPort.TooManyTasks".into(),
        error_msg: "too many unfinished tasks".into(),
    }
}

fn created(task_id: &str) -> FireResult {
    FireResult::Created {
        task_id: task_id.into(),
    }
}

async fn create(store: &dyn ScheduleStore, record: &ScheduleRecord) {
    assert!(
        store.create(record, 100).await.expect("create"),
        "created {}",
        record.schedule_id
    );
}

async fn get(store: &dyn ScheduleStore, tenant: &str, id: &str) -> Option<ScheduleRecord> {
    store.get(tenant, id).await.expect("get")
}

async fn claim(
    store: &dyn ScheduleStore,
    tenant: &str,
    id: &str,
    fire: i64,
    owner: &str,
    now: i64,
) -> FireClaim {
    store
        .claim_fire(tenant, id, fire, owner, now, LEASE)
        .await
        .expect("claim_fire")
}

async fn create_get_delete(store: &dyn ScheduleStore) {
    let t = "crud";
    let mut record = schedule(t, "s1", T0);
    record.template = serde_json::json!({"domain_name": "a.example.com", "tags": [], "x": {}});
    record.skipped_fires = u64::MAX - 1;
    create(store, &record).await;
    assert_eq!(
        get(store, t, "s1").await,
        Some(record.clone()),
        "stored as given"
    );
    assert_eq!(get(store, t, "nope").await, None);
    assert_eq!(store.delete(t, "s1").await.expect("delete"), Some(record));
    assert_eq!(get(store, t, "s1").await, None);
    assert_eq!(store.delete(t, "s1").await.expect("delete"), None);
    assert_eq!(store.list(t, 10, 0).await.expect("list"), (0, Vec::new()));
}

async fn tenants_are_isolated(store: &dyn ScheduleStore) {
    let (a, b) = ("iso-a", "iso-b");
    let record = schedule(a, "s", T0);
    create(store, &record).await;
    assert_eq!(
        claim(store, a, "s", T0 + HOUR, "sched", T0 + HOUR).await,
        FireClaim::Claimed
    );

    assert_eq!(get(store, b, "s").await, None);
    assert_eq!(store.list(b, 10, 0).await.expect("list"), (0, Vec::new()));
    assert_eq!(
        store.set_paused(b, "s", true, T0).await.expect("pause"),
        None
    );
    assert_eq!(
        claim(store, b, "s", T0 + HOUR, "sched", T0 + HOUR).await,
        FireClaim::Missing
    );
    assert!(!store
        .complete_fire(b, "s", T0 + HOUR, "sched", created("x"), T0 + HOUR)
        .await
        .expect("complete"));
    store
        .skip_fires(b, "s", T0 + 5 * HOUR, 4)
        .await
        .expect("skip");
    assert!(store.runs(b, "s", 10).await.expect("runs").is_empty());
    assert_eq!(store.delete(b, "s").await.expect("delete"), None);

    assert_eq!(
        get(store, a, "s").await,
        Some(record),
        "untouched by the other tenant"
    );
    assert_eq!(store.runs(a, "s", 10).await.expect("runs").len(), 1);
}

async fn list_orders_newest_first_and_pages(store: &dyn ScheduleStore) {
    let t = "list";
    // Two pairs with equal create times: ties go by id, descending.
    for (id, created) in [
        ("a", T0),
        ("b", T0 + 2),
        ("c", T0),
        ("d", T0 + 1),
        ("e", T0 + 2),
    ] {
        create(store, &schedule(t, id, created)).await;
    }
    let ids = |page: &[ScheduleRecord]| {
        page.iter()
            .map(|s| s.schedule_id.clone())
            .collect::<Vec<_>>()
    };
    let (total, page) = store.list(t, 100, 0).await.expect("list");
    assert_eq!(
        (total, ids(&page)),
        (
            5,
            vec!["e".into(), "b".into(), "d".into(), "c".into(), "a".into()]
        )
    );
    let (total, page) = store.list(t, 2, 1).await.expect("list");
    assert_eq!(
        (total, ids(&page)),
        (5, vec!["b".to_owned(), "d".to_owned()])
    );
    let (total, page) = store.list(t, 10, 4).await.expect("list");
    assert_eq!((total, ids(&page)), (5, vec!["a".to_owned()]));
    let (total, page) = store.list(t, 10, 9).await.expect("list");
    assert_eq!((total, page.len()), (5, 0));
    let (total, page) = store.list(t, 0, 0).await.expect("list");
    assert_eq!((total, page.len()), (5, 0));
    let (total, page) = store.list(t, usize::MAX, usize::MAX).await.expect("list");
    assert_eq!((total, page.len()), (5, 0));
}

async fn the_per_tenant_limit_holds(store: &dyn ScheduleStore) {
    let t = "limit";
    for i in 0..3 {
        assert!(store
            .create(&schedule(t, &format!("s{i}"), T0 + i), 3)
            .await
            .expect("create"));
    }
    assert!(
        !store
            .create(&schedule(t, "s3", T0 + 3), 3)
            .await
            .expect("create"),
        "the fourth is refused"
    );
    assert_eq!(get(store, t, "s3").await, None);
    assert!(
        store
            .create(&schedule("limit-other", "s3", T0), 3)
            .await
            .expect("create"),
        "per tenant"
    );
    let mut renamed = schedule(t, "s1", T0 + 1);
    renamed.name = "renamed".into();
    assert!(
        store.create(&renamed, 3).await.expect("create"),
        "a replacement is not one more"
    );
    assert_eq!(
        get(store, t, "s1").await.map(|s| s.name),
        Some("renamed".into())
    );
    assert_eq!(store.list(t, 10, 0).await.expect("list").0, 3);
    store.delete(t, "s0").await.expect("delete");
    assert!(
        store
            .create(&schedule(t, "s3", T0 + 3), 3)
            .await
            .expect("create"),
        "a slot opened"
    );
}

async fn concurrent_creates_respect_the_limit(store: &dyn ScheduleStore) {
    let t = "limit-race";
    let attempts = (0..12i64).map(|i| {
        let record = schedule(t, &format!("r{i:02}"), T0 + i);
        async move { store.create(&record, 4).await.expect("create") }
    });
    let accepted = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count();
    assert_eq!(accepted, 4);
    assert_eq!(store.list(t, 100, 0).await.expect("list").0, 4);
}

async fn all_lists_every_tenant(store: &dyn ScheduleStore) {
    create(store, &schedule("all-a", "s1", T0)).await;
    create(store, &schedule("all-a", "s2", T0)).await;
    create(store, &schedule("all-b", "s1", T0)).await;
    let mut mine: Vec<(String, String)> = store
        .all()
        .await
        .expect("all")
        .into_iter()
        .filter(|s| s.tenant_id.starts_with("all-"))
        .map(|s| (s.tenant_id, s.schedule_id))
        .collect();
    mine.sort();
    let expected = [("all-a", "s1"), ("all-a", "s2"), ("all-b", "s1")]
        .map(|(t, s)| (t.to_owned(), s.to_owned()));
    assert_eq!(mine, expected);
    store.delete("all-b", "s1").await.expect("delete");
    assert!(!store
        .all()
        .await
        .expect("all")
        .iter()
        .any(|s| s.tenant_id == "all-b"));
}

async fn pause_and_resume(store: &dyn ScheduleStore) {
    let t = "pause";
    let mut record = schedule(t, "s", T0);
    record.last_fire_time = Some(T0 + HOUR);
    create(store, &record).await;
    let paused = store
        .set_paused(t, "s", true, T0 + 2 * HOUR)
        .await
        .expect("pause")
        .expect("exists");
    assert!(paused.paused);
    assert_eq!(
        (paused.update_time, paused.last_fire_time),
        (T0 + 2 * HOUR, Some(T0 + HOUR))
    );
    let again = store
        .set_paused(t, "s", true, T0 + 3 * HOUR)
        .await
        .expect("pause")
        .expect("exists");
    assert_eq!(again, paused, "pausing a paused schedule changes nothing");
    let resumed = store
        .set_paused(t, "s", false, T0 + 5 * HOUR)
        .await
        .expect("resume")
        .expect("exists");
    assert!(!resumed.paused);
    assert_eq!(
        (resumed.update_time, resumed.last_fire_time),
        (T0 + 5 * HOUR, Some(T0 + 5 * HOUR)),
        "fire times passed while paused are not run"
    );
    assert_eq!(get(store, t, "s").await, Some(resumed.clone()));
    let again = store
        .set_paused(t, "s", false, T0 + 6 * HOUR)
        .await
        .expect("resume")
        .expect("exists");
    assert_eq!(
        again, resumed,
        "resuming a running schedule changes nothing"
    );

    // A last fire time already after `now` stays.
    let mut ahead = schedule(t, "ahead", T0);
    ahead.last_fire_time = Some(T0 + 10 * HOUR);
    ahead.paused = true;
    create(store, &ahead).await;
    let resumed = store
        .set_paused(t, "ahead", false, T0 + HOUR)
        .await
        .expect("resume")
        .expect("exists");
    assert_eq!(resumed.last_fire_time, Some(T0 + 10 * HOUR));
    // Never fired: resuming sets it to now.
    let mut fresh = schedule(t, "fresh", T0);
    fresh.paused = true;
    create(store, &fresh).await;
    let resumed = store
        .set_paused(t, "fresh", false, T0 + HOUR)
        .await
        .expect("resume")
        .expect("exists");
    assert_eq!(resumed.last_fire_time, Some(T0 + HOUR));
    assert_eq!(
        store.set_paused(t, "gone", true, T0).await.expect("pause"),
        None
    );
}

async fn a_paused_or_gone_schedule_cannot_be_claimed(store: &dyn ScheduleStore) {
    let t = "claim-missing";
    assert_eq!(
        claim(store, t, "never", T0, "sched", T0).await,
        FireClaim::Missing
    );
    create(store, &schedule(t, "s", T0)).await;
    store.set_paused(t, "s", true, T0).await.expect("pause");
    assert_eq!(
        claim(store, t, "s", T0 + HOUR, "sched", T0 + HOUR).await,
        FireClaim::Missing
    );
    assert!(
        store.runs(t, "s", 10).await.expect("runs").is_empty(),
        "no run written"
    );
    store
        .set_paused(t, "s", false, T0 + HOUR)
        .await
        .expect("resume");
    assert_eq!(
        claim(store, t, "s", T0 + 2 * HOUR, "sched", T0 + 2 * HOUR).await,
        FireClaim::Claimed
    );
}

async fn concurrent_claims_of_one_fire_time_have_one_winner(store: &dyn ScheduleStore) {
    let t = "claim-race";
    create(store, &schedule(t, "s", T0)).await;
    let fire = T0 + HOUR;
    let attempts = (0..20).map(|i| async move {
        let owner = format!("sched-{i}");
        let answer = claim(store, t, "s", fire, &owner, fire + i).await;
        (owner, answer)
    });
    let answers = futures::future::join_all(attempts).await;
    let winners: Vec<&String> = answers
        .iter()
        .filter(|(_, a)| *a == FireClaim::Claimed)
        .map(|(owner, _)| owner)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for (_, answer) in &answers {
        match answer {
            FireClaim::Claimed => {}
            FireClaim::Taken(run) => assert!(
                matches!(&run.state, RunState::Claimed { owner, .. } if owner == winners[0]),
                "{run:?}"
            ),
            FireClaim::Missing => panic!("the schedule exists"),
        }
    }
    assert_eq!(store.runs(t, "s", 10).await.expect("runs").len(), 1);
}

async fn a_passed_lease_is_taken_over_and_a_holding_one_is_not(store: &dyn ScheduleStore) {
    let t = "lease";
    create(store, &schedule(t, "s", T0)).await;
    let fire = T0 + HOUR;
    assert_eq!(
        claim(store, t, "s", fire, "a", fire).await,
        FireClaim::Claimed
    );
    let held = ScheduleRun {
        schedule_id: "s".into(),
        fire_time: fire,
        state: RunState::Claimed {
            owner: "a".into(),
            lease_until: fire + LEASE,
        },
        update_time: fire,
    };
    assert_eq!(
        claim(store, t, "s", fire, "b", fire + LEASE - 1).await,
        FireClaim::Taken(held.clone())
    );
    assert_eq!(
        claim(store, t, "s", fire, "a", fire + 5).await,
        FireClaim::Taken(held),
        "a holder does not claim twice"
    );
    // "a" crashed: once its lease has passed, "b" takes the fire time over.
    assert_eq!(
        claim(store, t, "s", fire, "b", fire + LEASE).await,
        FireClaim::Claimed
    );
    assert!(
        !store
            .complete_fire(t, "s", fire, "a", created("from-a"), fire + LEASE + 1)
            .await
            .expect("complete"),
        "the old owner lost it"
    );
    let runs = store.runs(t, "s", 10).await.expect("runs");
    assert_eq!(
        runs.iter().map(|r| r.state.clone()).collect::<Vec<_>>(),
        vec![RunState::Claimed {
            owner: "b".into(),
            lease_until: fire + 2 * LEASE
        }]
    );
    assert!(store
        .complete_fire(t, "s", fire, "b", created("from-b"), fire + LEASE + 2)
        .await
        .expect("complete"));
    // A created run is never taken again, however late.
    let FireClaim::Taken(done) = claim(store, t, "s", fire, "c", fire + 100 * LEASE).await else {
        panic!("a created run is taken");
    };
    assert_eq!(
        done.state,
        RunState::Created {
            task_id: "from-b".into()
        }
    );
    assert_eq!(done.update_time, fire + LEASE + 2);
}

async fn only_the_owner_completes_and_the_schedule_follows(store: &dyn ScheduleStore) {
    let t = "complete";
    create(store, &schedule(t, "s", T0)).await;
    let (f1, f2, f3) = (T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR);
    assert!(
        !store
            .complete_fire(t, "s", f1, "a", created("x"), f1)
            .await
            .expect("complete"),
        "nothing claimed"
    );
    assert_eq!(claim(store, t, "s", f1, "a", f1).await, FireClaim::Claimed);
    assert_eq!(claim(store, t, "s", f2, "a", f2).await, FireClaim::Claimed);
    assert!(
        !store
            .complete_fire(t, "s", f2, "b", created("x"), f2)
            .await
            .expect("complete"),
        "not the owner"
    );

    // The later fire time is refused first.
    assert!(store
        .complete_fire(t, "s", f2, "a", FireResult::Refused(refusal(f2)), f2 + 1)
        .await
        .expect("complete"));
    let s = get(store, t, "s").await.expect("exists");
    assert_eq!(
        (s.last_fire_time, s.last_error.clone()),
        (Some(f2), Some(refusal(f2)))
    );
    assert!(
        !store
            .complete_fire(t, "s", f2, "a", created("again"), f2 + 2)
            .await
            .expect("complete"),
        "only once"
    );

    // The earlier one then creates its task: the error clears, the last fire time stays.
    assert!(store
        .complete_fire(t, "s", f1, "a", created("task-1"), f2 + 3)
        .await
        .expect("complete"));
    let s = get(store, t, "s").await.expect("exists");
    assert_eq!((s.last_fire_time, s.last_error), (Some(f2), None));

    assert_eq!(claim(store, t, "s", f3, "a", f3).await, FireClaim::Claimed);
    assert!(store
        .complete_fire(t, "s", f3, "a", created("task-3"), f3 + 1)
        .await
        .expect("complete"));
    let s = get(store, t, "s").await.expect("exists");
    assert_eq!(s.last_fire_time, Some(f3));
    let states: Vec<RunState> = store
        .runs(t, "s", 10)
        .await
        .expect("runs")
        .into_iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(
        states,
        vec![
            RunState::Created {
                task_id: "task-3".into()
            },
            RunState::Refused { error: refusal(f2) },
            RunState::Created {
                task_id: "task-1".into()
            },
        ]
    );
    // A client's pause does not stop a claimed run from completing.
    let f4 = T0 + 4 * HOUR;
    assert_eq!(claim(store, t, "s", f4, "a", f4).await, FireClaim::Claimed);
    store.set_paused(t, "s", true, f4).await.expect("pause");
    assert!(store
        .complete_fire(t, "s", f4, "a", created("task-4"), f4 + 1)
        .await
        .expect("complete"));
    let s = get(store, t, "s").await.expect("exists");
    assert_eq!((s.paused, s.last_fire_time), (true, Some(f4)));
}

async fn skipping_fires_is_idempotent(store: &dyn ScheduleStore) {
    let t = "skip";
    create(store, &schedule(t, "s", T0)).await;
    store
        .skip_fires(t, "s", T0 + 5 * HOUR, 5)
        .await
        .expect("skip");
    let s = get(store, t, "s").await.expect("exists");
    assert_eq!(
        (s.last_fire_time, s.skipped_fires),
        (Some(T0 + 5 * HOUR), 5)
    );
    store
        .skip_fires(t, "s", T0 + 5 * HOUR, 5)
        .await
        .expect("skip");
    store
        .skip_fires(t, "s", T0 + 3 * HOUR, 3)
        .await
        .expect("skip");
    assert_eq!(
        get(store, t, "s").await,
        Some(s),
        "the same or an earlier up_to adds nothing"
    );
    store
        .skip_fires(t, "s", T0 + 7 * HOUR, 2)
        .await
        .expect("skip");
    let s = get(store, t, "s").await.expect("exists");
    assert_eq!(
        (s.last_fire_time, s.skipped_fires),
        (Some(T0 + 7 * HOUR), 7)
    );
    // Concurrent repeats of one catch-up count once.
    let repeats = (0..8).map(|_| store.skip_fires(t, "s", T0 + 9 * HOUR, 2));
    for done in futures::future::join_all(repeats).await {
        done.expect("skip");
    }
    assert_eq!(get(store, t, "s").await.expect("exists").skipped_fires, 9);
    store
        .skip_fires(t, "gone", T0, 1)
        .await
        .expect("no schedule is no error");
}

async fn record_failure(
    store: &dyn ScheduleStore,
    tenant: &str,
    id: &str,
    at: i64,
    message: &str,
) -> bool {
    store
        .record_failure(tenant, id, at, message)
        .await
        .expect("record_failure")
}

async fn a_failure_is_recorded_until_the_next_completed_run(store: &dyn ScheduleStore) {
    let t = "failure";
    let original = schedule(t, "s", T0);
    create(store, &original).await;
    assert!(record_failure(store, t, "s", T0 + 1, "first").await);
    assert!(record_failure(store, t, "s", T0 + 2, "second").await);
    let s = get(store, t, "s").await.expect("exists");
    assert_eq!(
        s.last_failure,
        Some(ScheduleFailure {
            at: T0 + 2,
            message: "second".into(),
            consecutive: 2
        })
    );
    assert_eq!(
        ScheduleRecord {
            last_failure: None,
            ..s
        },
        original,
        "nothing else changes"
    );
    // Concurrent attempts (several schedulers failing at once) are each counted.
    let repeats = (0..8).map(|i| store.record_failure(t, "s", T0 + 3 + i, "again"));
    for done in futures::future::join_all(repeats).await {
        assert!(done.expect("record_failure"));
    }
    let failure = get(store, t, "s").await.and_then(|s| s.last_failure);
    assert_eq!(
        failure.map(|f| (f.consecutive, f.message)),
        Some((10, "again".into()))
    );
    assert!(
        !record_failure(store, t, "gone", T0, "x").await,
        "no schedule"
    );
    assert!(
        !record_failure(store, "failure-other", "s", T0, "x").await,
        "another tenant's"
    );

    // Cleared only while it is the failure seen: a newer one stays.
    let seen = get(store, t, "s")
        .await
        .and_then(|s| s.last_failure)
        .expect("recorded");
    assert!(record_failure(store, t, "s", T0 + 20, "newer").await);
    assert!(
        !store.clear_failure(t, "s", &seen).await.expect("clear"),
        "a newer failure"
    );
    let seen = get(store, t, "s")
        .await
        .and_then(|s| s.last_failure)
        .expect("recorded");
    assert_eq!(seen.consecutive, 11);
    assert!(store.clear_failure(t, "s", &seen).await.expect("clear"));
    assert_eq!(get(store, t, "s").await.and_then(|s| s.last_failure), None);
    assert!(
        !store.clear_failure(t, "s", &seen).await.expect("clear"),
        "already clear"
    );
    assert!(
        !store.clear_failure(t, "gone", &seen).await.expect("clear"),
        "no schedule"
    );
    assert!(record_failure(store, t, "s", T0 + 21, "once more").await);

    // A refused run is a handled one: the failure clears, the refusal is the schedule's error.
    let f1 = T0 + HOUR;
    assert_eq!(claim(store, t, "s", f1, "a", f1).await, FireClaim::Claimed);
    assert!(store
        .complete_fire(t, "s", f1, "a", FireResult::Refused(refusal(f1)), f1 + 1)
        .await
        .expect("complete"));
    let s = get(store, t, "s").await.expect("exists");
    assert_eq!((s.last_failure, s.last_error), (None, Some(refusal(f1))));

    // Counted afresh after a clear, and cleared by a run that creates its task.
    let f2 = T0 + 2 * HOUR;
    assert!(record_failure(store, t, "s", f2, "later").await);
    let failure = get(store, t, "s").await.and_then(|s| s.last_failure);
    assert_eq!(failure.map(|f| f.consecutive), Some(1));
    assert_eq!(claim(store, t, "s", f2, "a", f2).await, FireClaim::Claimed);
    assert!(store
        .complete_fire(t, "s", f2, "a", created("task-2"), f2 + 1)
        .await
        .expect("complete"));
    let s = get(store, t, "s").await.expect("exists");
    assert_eq!((s.last_failure, s.last_error), (None, None));
}

async fn runs_are_newest_first_and_trimmed(store: &dyn ScheduleStore) {
    let t = "runs";
    create(store, &schedule(t, "order", T0)).await;
    for step in [3, 1, 4, 2] {
        let fire = T0 + step * HOUR;
        assert_eq!(
            claim(store, t, "order", fire, "a", fire).await,
            FireClaim::Claimed
        );
    }
    let fires: Vec<i64> = store
        .runs(t, "order", 3)
        .await
        .expect("runs")
        .iter()
        .map(|r| r.fire_time)
        .collect();
    assert_eq!(fires, vec![T0 + 4 * HOUR, T0 + 3 * HOUR, T0 + 2 * HOUR]);

    create(store, &schedule(t, "trim", T0)).await;
    let count = RUNS_KEPT as i64 + 5;
    for step in 0..count {
        let fire = T0 + step * HOUR;
        assert_eq!(
            claim(store, t, "trim", fire, "a", fire).await,
            FireClaim::Claimed
        );
        // Fire time 1 stays claimed (its scheduler died and nobody came back for it).
        if step != 1 {
            assert!(store
                .complete_fire(t, "trim", fire, "a", created("x"), fire)
                .await
                .expect("complete"));
        }
    }
    let fires: Vec<i64> = store
        .runs(t, "trim", usize::MAX)
        .await
        .expect("runs")
        .iter()
        .map(|r| (r.fire_time - T0) / HOUR)
        .collect();
    let mut expected: Vec<i64> = (5..count).rev().collect();
    expected.push(1);
    assert_eq!(
        fires, expected,
        "the latest {RUNS_KEPT} and the claimed one"
    );
}

async fn delete_removes_the_runs(store: &dyn ScheduleStore) {
    let t = "delete-runs";
    let record = schedule(t, "s", T0);
    create(store, &record).await;
    assert_eq!(
        claim(store, t, "s", T0 + HOUR, "a", T0 + HOUR).await,
        FireClaim::Claimed
    );
    assert!(store
        .complete_fire(t, "s", T0 + HOUR, "a", created("x"), T0 + HOUR)
        .await
        .expect("complete"));
    assert_eq!(
        claim(store, t, "s", T0 + 2 * HOUR, "a", T0 + 2 * HOUR).await,
        FireClaim::Claimed
    );
    store
        .delete(t, "s")
        .await
        .expect("delete")
        .expect("existed");
    assert!(store.runs(t, "s", 10).await.expect("runs").is_empty());
    assert!(!store
        .complete_fire(t, "s", T0 + 2 * HOUR, "a", created("y"), T0 + 2 * HOUR)
        .await
        .expect("complete"));
    // Created again under the same id, it starts without history.
    create(store, &record).await;
    assert!(store.runs(t, "s", 10).await.expect("runs").is_empty());
    assert_eq!(
        claim(store, t, "s", T0 + HOUR, "a", T0 + 3 * HOUR).await,
        FireClaim::Claimed
    );
}
