//! The conformance suite every [`TaskStore`] must pass. Each scenario uses its own tenants, so
//! they can share one (empty) store.

use statport_core::task::{TaskError, TaskRecord, TaskStatus};
use statport_records::{
    Admission, AdmissionLimits, Claim, ListQuery, Outcome, TaskPage, TaskStore,
};

use super::{record, record_for};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

/// Runs every scenario against `store`.
pub async fn suite(store: &dyn TaskStore) {
    store.ping().await.expect("ping");
    create_get_and_overwrite(store).await;
    list_orders_newest_first_with_total_order(store).await;
    list_pages_with_limit_offset_and_total(store).await;
    list_filters_by_exact_task_id_and_task_name(store).await;
    tenants_are_isolated(store).await;
    delete_returns_the_record_and_forgets_it(store).await;
    claim_progress_finish_success(store).await;
    finish_with_failure(store).await;
    a_stale_run_cannot_change_the_task(store).await;
    a_deleted_task_cannot_be_reported_or_claimed(store).await;
    a_waiting_task_takes_no_reports(store).await;
    attempts_count_every_claim(store).await;
    a_replaced_task_drops_the_old_run(store).await;
    counters_keep_their_exact_values(store).await;
    racing_finishes_of_one_run_have_one_winner(store).await;
    admission_refuses_the_sixth_unfinished_task(store).await;
    concurrent_admissions_accept_exactly_the_limit(store).await;
    admission_evicts_the_oldest_finished_task(store).await;
    same_condition_replaces_the_task(store).await;
    an_expired_file_is_forgotten(store).await;
}

fn created(a: &Admission) -> &str {
    match a {
        Admission::Created { record, .. } => &record.task_id,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn admission_refuses_the_sixth_unfinished_task(store: &dyn TaskStore) {
    let t = "admit-limit";
    let limits = AdmissionLimits::default();
    for i in 0..5i64 {
        let a = store
            .admit(&record_for(t, &format!("w{i}"), i, T0 + i), &limits)
            .await
            .expect("admit");
        assert_eq!(created(&a), format!("w{i}"));
    }
    let a = store
        .admit(&record_for(t, "w5", 5, T0 + 5), &limits)
        .await
        .expect("admit");
    assert_eq!(
        a,
        Admission::TooManyUnfinished {
            unfinished: 5,
            limit: 5
        }
    );
    assert_eq!(
        get(store, t, "w5").await,
        None,
        "a refused task is not stored"
    );
    // One finishes: a slot opens.
    started(store, t, "w0", "run", T0 + 6).await;
    assert!(store
        .finish(t, "w0", "run", success("f0"), T0 + 7)
        .await
        .expect("finish"));
    let a = store
        .admit(&record_for(t, "w5", 5, T0 + 8), &limits)
        .await
        .expect("admit");
    assert_eq!(created(&a), "w5");
}

async fn concurrent_admissions_accept_exactly_the_limit(store: &dyn TaskStore) {
    let t = "admit-race";
    let limits = AdmissionLimits::default();
    let attempts = (0..20i64).map(|i| {
        let rec = record_for(t, &format!("r{i:02}"), i, T0 + i);
        async move { store.admit(&rec, &limits).await.expect("admit") }
    });
    let answers = futures::future::join_all(attempts).await;
    let accepted = answers
        .iter()
        .filter(|a| matches!(a, Admission::Created { .. }))
        .count();
    assert_eq!(accepted, 5, "{answers:?}");
    let page = store.list(t, &query(100, 0)).await.expect("list");
    assert_eq!(page.total, 5);
}

async fn admission_evicts_the_oldest_finished_task(store: &dyn TaskStore) {
    let t = "admit-kept";
    let limits = AdmissionLimits {
        max_kept: 3,
        max_unfinished: 5,
    };
    for i in 0..3i64 {
        let id = format!("k{i}");
        store
            .admit(&record_for(t, &id, i, T0 + i), &limits)
            .await
            .expect("admit");
        started(store, t, &id, "run", T0 + 10).await;
        assert!(store
            .finish(t, &id, "run", success(&format!("file-{i}")), T0 + 11)
            .await
            .expect("finish"));
    }
    let a = store
        .admit(&record_for(t, "k3", 3, T0 + 20), &limits)
        .await
        .expect("admit");
    let Admission::Created { evicted, .. } = a else {
        panic!("expected Created, got {a:?}");
    };
    let gone: Vec<(&str, Option<&str>)> = evicted
        .iter()
        .map(|r| (r.task_id.as_str(), r.file_key.as_deref()))
        .collect();
    assert_eq!(
        gone,
        [("k0", Some("file-0"))],
        "the oldest, with its file key"
    );
    assert_eq!(get(store, t, "k0").await, None);
    let page = store.list(t, &query(100, 0)).await.expect("list");
    assert_eq!(page.total, 3, "the index forgot the evicted task");
}

async fn same_condition_replaces_the_task(store: &dyn TaskStore) {
    let t = "admit-same";
    let limits = AdmissionLimits::default();
    let first = record_for(t, "orig", 0, T0);
    store.admit(&first, &limits).await.expect("admit");
    // Still waiting: replaced in place, no new job needed.
    let a = store
        .admit(&record_for(t, "dup1", 0, T0 + 1), &limits)
        .await
        .expect("admit");
    let Admission::Replaced {
        record, requeue, ..
    } = a
    else {
        panic!("expected Replaced, got {a:?}");
    };
    assert_eq!((record.task_id.as_str(), requeue), ("orig", false));
    assert_eq!(get(store, t, "dup1").await, None);
    // Running: the old run loses the task, a new job is needed.
    started(store, t, "orig", "old-run", T0 + 2).await;
    let a = store
        .admit(&record_for(t, "dup2", 0, T0 + 3), &limits)
        .await
        .expect("admit");
    assert!(
        matches!(a, Admission::Replaced { requeue: true, .. }),
        "{a:?}"
    );
    assert!(!store
        .progress(t, "orig", "old-run", 50, 1, 0, T0 + 4)
        .await
        .expect("progress"));
    let now = get(store, t, "orig").await.expect("kept");
    assert_eq!(now.status, TaskStatus::Waiting);
    assert_eq!(now.attempts, 0);
    let page = store.list(t, &query(100, 0)).await.expect("list");
    assert_eq!(page.total, 1, "one task, however often it was submitted");
}

async fn an_expired_file_is_forgotten(store: &dyn TaskStore) {
    let t = "expire";
    store
        .create(&record(t, "e1", "n", T0, T0))
        .await
        .expect("create");
    assert_eq!(
        store
            .expire_file(t, "e1", T0 + 9, T0 + 1)
            .await
            .expect("expire"),
        None
    );
    started(store, t, "e1", "run", T0 + 2).await;
    assert!(store
        .finish(t, "e1", "run", success("the-file"), T0 + 3)
        .await
        .expect("finish"));
    // Ended at T0 + 3: not expired by a cutoff before that, expired by one at it.
    assert_eq!(
        store
            .expire_file(t, "e1", T0 + 2, T0 + 4)
            .await
            .expect("expire"),
        None
    );
    assert_eq!(
        store
            .expire_file(t, "e1", T0 + 3, T0 + 4)
            .await
            .expect("expire"),
        Some("the-file".to_owned())
    );
    let r = get(store, t, "e1").await.expect("kept");
    assert_eq!(
        (r.file_key.as_deref(), r.file_expired_at),
        (Some("the-file"), Some(T0 + 4))
    );
    assert_eq!(r.status, TaskStatus::Success);
    assert_eq!(
        store
            .expire_file(t, "e1", T0 + 9, T0 + 5)
            .await
            .expect("expire"),
        None
    );
    assert_eq!(
        store
            .expire_file(t, "nope", T0 + 9, T0 + 5)
            .await
            .expect("expire"),
        None
    );
}

fn ids(page: &TaskPage) -> Vec<&str> {
    page.data.iter().map(|r| r.task_id.as_str()).collect()
}

fn query(limit: usize, offset: usize) -> ListQuery {
    ListQuery {
        limit,
        offset,
        task_id: None,
        task_name: None,
    }
}

fn success(file_key: &str) -> Outcome {
    Outcome::Success {
        export_count: 12,
        file_size: 3456,
        file_key: file_key.to_owned(),
        read_lines: 1000,
        skipped_lines: 3,
        approximation: None,
    }
}

async fn get(store: &dyn TaskStore, tenant: &str, id: &str) -> Option<TaskRecord> {
    store.get(tenant, id).await.expect("get")
}

async fn started(store: &dyn TaskStore, tenant: &str, id: &str, run: &str, now: i64) -> TaskRecord {
    match store.claim(tenant, id, run, now).await.expect("claim") {
        Claim::Started(record) => record,
        other => panic!("claim of {tenant}/{id} by {run}: expected Started, got {other:?}"),
    }
}

async fn create_get_and_overwrite(store: &dyn TaskStore) {
    let t = "crud";
    let rec = record(t, "id1", "first", T0, T0);
    store.create(&rec).await.expect("create");
    assert_eq!(get(store, t, "id1").await, Some(rec.clone()));
    assert_eq!(get(store, t, "nope").await, None);

    let replaced = record(t, "id1", "second", T0 + 5, T0 + 5);
    store.create(&replaced).await.expect("overwrite");
    assert_eq!(get(store, t, "id1").await, Some(replaced));
    let page = store.list(t, &query(10, 0)).await.expect("list");
    assert_eq!(page.total, 1, "overwriting keeps one index entry");
    assert_eq!(page.data[0].task_name, "second");
}

async fn list_orders_newest_first_with_total_order(store: &dyn TaskStore) {
    let t = "order";
    // (id, create, update): ties on update broken by newer create, then by id descending.
    for (id, create, update) in [
        ("a", T0, T0 + 10),
        ("b", T0 + 1, T0 + 30),
        ("c", T0 + 2, T0 + 20),
        ("d", T0 + 3, T0 + 20),
        ("e", T0 + 3, T0 + 20),
        ("f", T0 - 5, T0 + 30),
    ] {
        store
            .create(&record(t, id, "n", create, update))
            .await
            .expect("create");
    }
    let page = store.list(t, &query(100, 0)).await.expect("list");
    assert_eq!(page.total, 6);
    assert_eq!(ids(&page), ["b", "f", "e", "d", "c", "a"]);
}

async fn list_pages_with_limit_offset_and_total(store: &dyn TaskStore) {
    let t = "paging";
    for i in 0..7i64 {
        let id = format!("task{i}");
        store
            .create(&record(t, &id, "n", T0, T0 + i))
            .await
            .expect("create");
    }
    let mut seen = Vec::new();
    for offset in (0..7).step_by(3) {
        let page = store.list(t, &query(3, offset)).await.expect("list");
        assert_eq!(page.total, 7);
        seen.extend(ids(&page).into_iter().map(str::to_owned));
    }
    assert_eq!(
        seen,
        ["task6", "task5", "task4", "task3", "task2", "task1", "task0"]
    );
    let beyond = store.list(t, &query(3, 7)).await.expect("list");
    assert_eq!((beyond.total, beyond.data.len()), (7, 0));
    let far = store.list(t, &query(3, usize::MAX)).await.expect("list");
    assert_eq!((far.total, far.data.len()), (7, 0));
    let none = store.list(t, &query(0, 0)).await.expect("list");
    assert_eq!((none.total, none.data.len()), (7, 0));
    let last = store.list(t, &query(100, 5)).await.expect("list");
    assert_eq!(ids(&last), ["task1", "task0"]);
    let empty = store
        .list("paging-nobody", &query(10, 0))
        .await
        .expect("list");
    assert_eq!(empty, TaskPage::default());
}

async fn list_filters_by_exact_task_id_and_task_name(store: &dyn TaskStore) {
    let t = "filter";
    for (id, name, update) in [
        ("x1", "daily", T0 + 1),
        ("x2", "daily report", T0 + 2),
        ("x3", "daily", T0 + 3),
        ("x4", "Daily", T0 + 4),
    ] {
        store
            .create(&record(t, id, name, T0, update))
            .await
            .expect("create");
    }
    let by_name = |name: &str, limit, offset| ListQuery {
        limit,
        offset,
        task_id: None,
        task_name: Some(name.to_owned()),
    };
    let page = store.list(t, &by_name("daily", 10, 0)).await.expect("list");
    assert_eq!((page.total, ids(&page)), (2, vec!["x3", "x1"]));
    let page = store.list(t, &by_name("daily", 1, 1)).await.expect("list");
    assert_eq!((page.total, ids(&page)), (2, vec!["x1"]));
    let page = store.list(t, &by_name("dai", 10, 0)).await.expect("list");
    assert_eq!(
        page.total, 0,
        "task_name is an exact match, not a substring"
    );

    let by_id = |id: &str, name: Option<&str>| ListQuery {
        limit: 10,
        offset: 0,
        task_id: Some(id.to_owned()),
        task_name: name.map(str::to_owned),
    };
    let page = store.list(t, &by_id("x2", None)).await.expect("list");
    assert_eq!((page.total, ids(&page)), (1, vec!["x2"]));
    let page = store.list(t, &by_id("x", None)).await.expect("list");
    assert_eq!(page.total, 0, "task_id is an exact match");
    let page = store
        .list(t, &by_id("x2", Some("daily")))
        .await
        .expect("list");
    assert_eq!(page.total, 0, "both filters apply");
    let page = store
        .list(t, &by_id("x3", Some("daily")))
        .await
        .expect("list");
    assert_eq!((page.total, ids(&page)), (1, vec!["x3"]));
    let page = store
        .list(
            t,
            &ListQuery {
                offset: 1,
                ..by_id("x3", None)
            },
        )
        .await
        .expect("list");
    assert_eq!((page.total, page.data.len()), (1, 0));
}

async fn tenants_are_isolated(store: &dyn TaskStore) {
    let (a, b) = ("iso-a", "iso-b");
    let rec = record(a, "shared-id", "mine", T0, T0);
    store.create(&rec).await.expect("create");

    assert_eq!(get(store, b, "shared-id").await, None);
    assert_eq!(store.list(b, &query(10, 0)).await.expect("list").total, 0);
    let by_id = ListQuery {
        task_id: Some("shared-id".to_owned()),
        ..query(10, 0)
    };
    assert_eq!(store.list(b, &by_id).await.expect("list").total, 0);
    assert_eq!(store.delete(b, "shared-id").await.expect("delete"), None);
    assert_eq!(
        store.claim(b, "shared-id", "r", T0).await.expect("claim"),
        Claim::Missing
    );
    assert!(!store
        .progress(b, "shared-id", "r", 5, 1, 0, T0)
        .await
        .expect("progress"));
    assert!(!store
        .finish(b, "shared-id", "r", success("k"), T0)
        .await
        .expect("finish"));
    assert_eq!(get(store, a, "shared-id").await, Some(rec));

    // Separators in tenant or task ids cannot reach another tenant's task.
    let colon = record("iso:x", "y", "n", T0, T0);
    store.create(&colon).await.expect("create");
    assert_eq!(get(store, "iso", "x:y").await, None);
    assert_eq!(get(store, "iso:x", "y").await, Some(colon));
    let other = record("iso", "x:y", "n", T0, T0);
    store.create(&other).await.expect("create");
    assert_eq!(get(store, "iso", "x:y").await, Some(other));
    assert_eq!(
        store.list("iso", &query(10, 0)).await.expect("list").total,
        1
    );
    assert_eq!(
        store
            .list("iso:x", &query(10, 0))
            .await
            .expect("list")
            .total,
        1
    );
}

async fn delete_returns_the_record_and_forgets_it(store: &dyn TaskStore) {
    let t = "del";
    let keep = record(t, "keep", "n", T0, T0);
    let gone = record(t, "gone", "n", T0, T0 + 1);
    store.create(&keep).await.expect("create");
    store.create(&gone).await.expect("create");

    assert_eq!(store.delete(t, "gone").await.expect("delete"), Some(gone));
    assert_eq!(get(store, t, "gone").await, None);
    assert_eq!(store.delete(t, "gone").await.expect("delete"), None);
    let page = store.list(t, &query(10, 0)).await.expect("list");
    assert_eq!((page.total, ids(&page)), (1, vec!["keep"]));
}

async fn claim_progress_finish_success(store: &dyn TaskStore) {
    let t = "life";
    store
        .create(&record(t, "job", "n", T0, T0))
        .await
        .expect("create");
    store
        .create(&record(t, "other", "n", T0, T0 + 50))
        .await
        .expect("create");

    let claimed = started(store, t, "job", "r1", T0 + 100).await;
    assert_eq!(claimed.status, TaskStatus::Processing);
    assert_eq!(claimed.run_id.as_deref(), Some("r1"));
    assert_eq!((claimed.attempts, claimed.progress), (1, 0));
    assert_eq!(claimed.update_time, T0 + 100);
    assert_eq!(get(store, t, "job").await, Some(claimed.clone()));
    let page = store.list(t, &query(10, 0)).await.expect("list");
    assert_eq!(ids(&page), ["job", "other"], "a claim moves the task up");

    assert!(store
        .progress(t, "job", "r1", 40, 500, 2, T0 + 200)
        .await
        .expect("progress"));
    let mid = get(store, t, "job").await.expect("present");
    assert_eq!(
        (mid.progress, mid.read_lines, mid.skipped_lines),
        (40, 500, 2)
    );
    assert_eq!(
        (mid.status, mid.update_time),
        (TaskStatus::Processing, T0 + 200)
    );
    assert!(store
        .progress(t, "job", "r1", 250, 600, 2, T0 + 250)
        .await
        .expect("progress"));
    assert_eq!(get(store, t, "job").await.expect("present").progress, 100);

    assert!(store
        .finish(t, "job", "r1", success("life/job.csv"), T0 + 300)
        .await
        .expect("finish"));
    let done = get(store, t, "job").await.expect("present");
    let expected = TaskRecord {
        status: TaskStatus::Success,
        progress: 100,
        export_count: 12,
        file_size: Some(3456),
        file_key: Some("life/job.csv".to_owned()),
        read_lines: 1000,
        skipped_lines: 3,
        update_time: T0 + 300,
        end_time: Some(T0 + 300),
        error: None,
        ..claimed
    };
    assert_eq!(done, expected);

    // Finished: nothing moves it any more.
    assert!(!store
        .progress(t, "job", "r1", 1, 1, 1, T0 + 400)
        .await
        .expect("progress"));
    assert!(!store
        .finish(t, "job", "r1", success("other"), T0 + 400)
        .await
        .expect("finish"));
    assert_eq!(
        store.claim(t, "job", "r2", T0 + 400).await.expect("claim"),
        Claim::AlreadyFinished(expected.clone())
    );
    assert_eq!(get(store, t, "job").await, Some(expected));
}

async fn finish_with_failure(store: &dyn TaskStore) {
    let t = "failing";
    store
        .create(&record(t, "job", "n", T0, T0))
        .await
        .expect("create");
    started(store, t, "job", "r1", T0 + 1).await;
    assert!(store
        .progress(t, "job", "r1", 30, 10, 1, T0 + 2)
        .await
        .expect("progress"));
    let error = TaskError {
        error_code: "StatPort.CorruptLogFile".to_owned(),
        error_msg: "logs/x.gz is not valid gzip".to_owned(),
    };
    let outcome = Outcome::Fail {
        error: error.clone(),
        read_lines: 20,
        skipped_lines: 4,
    };
    assert!(store
        .finish(t, "job", "r1", outcome, T0 + 3)
        .await
        .expect("finish"));
    let failed = get(store, t, "job").await.expect("present");
    assert_eq!(failed.status, TaskStatus::Fail);
    assert_eq!(failed.error, Some(error));
    assert_eq!((failed.read_lines, failed.skipped_lines), (20, 4));
    assert_eq!(
        (failed.end_time, failed.update_time),
        (Some(T0 + 3), T0 + 3)
    );
    assert_eq!((failed.file_key, failed.file_size), (None, None));
    assert!(matches!(
        store.claim(t, "job", "r2", T0 + 4).await.expect("claim"),
        Claim::AlreadyFinished(r) if r.status == TaskStatus::Fail
    ));
}

async fn a_stale_run_cannot_change_the_task(store: &dyn TaskStore) {
    let t = "stale";
    store
        .create(&record(t, "job", "n", T0, T0))
        .await
        .expect("create");
    started(store, t, "job", "r1", T0 + 1).await;
    assert!(store
        .progress(t, "job", "r1", 10, 5, 0, T0 + 2)
        .await
        .expect("progress"));
    let taken = started(store, t, "job", "r2", T0 + 3).await;
    assert_eq!(
        (taken.attempts, taken.progress, taken.read_lines),
        (2, 0, 0)
    );
    assert_eq!(taken.run_id.as_deref(), Some("r2"));

    assert!(!store
        .progress(t, "job", "r1", 90, 99, 0, T0 + 4)
        .await
        .expect("progress"));
    assert!(!store
        .finish(t, "job", "r1", success("stale/r1.csv"), T0 + 4)
        .await
        .expect("finish"));
    assert_eq!(get(store, t, "job").await, Some(taken));

    assert!(store
        .progress(t, "job", "r2", 50, 7, 0, T0 + 5)
        .await
        .expect("progress"));
    assert!(store
        .finish(t, "job", "r2", success("stale/r2.csv"), T0 + 6)
        .await
        .expect("finish"));
    let done = get(store, t, "job").await.expect("present");
    assert_eq!(done.file_key.as_deref(), Some("stale/r2.csv"));
    assert_eq!(done.run_id.as_deref(), Some("r2"));
}

async fn a_deleted_task_cannot_be_reported_or_claimed(store: &dyn TaskStore) {
    let t = "cancel";
    store
        .create(&record(t, "job", "n", T0, T0))
        .await
        .expect("create");
    started(store, t, "job", "r1", T0 + 1).await;
    assert!(store.delete(t, "job").await.expect("delete").is_some());
    assert!(!store
        .progress(t, "job", "r1", 10, 1, 0, T0 + 2)
        .await
        .expect("progress"));
    assert!(!store
        .finish(t, "job", "r1", success("cancel/job.csv"), T0 + 3)
        .await
        .expect("finish"));
    assert_eq!(
        get(store, t, "job").await,
        None,
        "finish must not resurrect it"
    );
    assert_eq!(
        store.claim(t, "job", "r2", T0 + 4).await.expect("claim"),
        Claim::Missing
    );
    assert_eq!(store.list(t, &query(10, 0)).await.expect("list").total, 0);
}

async fn a_waiting_task_takes_no_reports(store: &dyn TaskStore) {
    let t = "waiting";
    let rec = record(t, "job", "n", T0, T0);
    store.create(&rec).await.expect("create");
    assert!(!store
        .progress(t, "job", "r1", 10, 1, 0, T0 + 1)
        .await
        .expect("progress"));
    assert!(!store
        .finish(t, "job", "r1", success("k"), T0 + 1)
        .await
        .expect("finish"));
    assert_eq!(get(store, t, "job").await, Some(rec));
}

async fn attempts_count_every_claim(store: &dyn TaskStore) {
    let t = "attempts";
    store
        .create(&record(t, "job", "n", T0, T0))
        .await
        .expect("create");
    for (n, run) in [(1, "r1"), (2, "r1"), (3, "r2"), (4, "r3")] {
        let rec = started(store, t, "job", run, T0 + n).await;
        assert_eq!(rec.attempts, n as u32, "claim {n} by {run}");
    }
    assert!(store
        .progress(t, "job", "r3", 1, 1, 0, T0 + 9)
        .await
        .expect("progress"));
    assert_eq!(get(store, t, "job").await.expect("present").attempts, 4);
}

async fn a_replaced_task_drops_the_old_run(store: &dyn TaskStore) {
    let t = "replace";
    store
        .create(&record(t, "job", "n", T0, T0))
        .await
        .expect("create");
    started(store, t, "job", "r1", T0 + 1).await;
    let fresh = record(t, "job", "n", T0 + 2, T0 + 2);
    store.create(&fresh).await.expect("replace");
    assert!(!store
        .progress(t, "job", "r1", 10, 1, 0, T0 + 3)
        .await
        .expect("progress"));
    assert!(!store
        .finish(t, "job", "r1", success("k"), T0 + 3)
        .await
        .expect("finish"));
    assert_eq!(get(store, t, "job").await, Some(fresh));
    assert_eq!(started(store, t, "job", "r2", T0 + 4).await.attempts, 1);
}

async fn counters_keep_their_exact_values(store: &dyn TaskStore) {
    let t = "big";
    store
        .create(&record(t, "job", "n", T0, T0))
        .await
        .expect("create");
    started(store, t, "job", "r1", T0 + 1).await;
    assert!(store
        .progress(t, "job", "r1", 1, u64::MAX, u64::MAX - 1, T0 + 2)
        .await
        .expect("progress"));
    let outcome = Outcome::Success {
        export_count: u64::MAX - 2,
        file_size: (1 << 53) + 1,
        file_key: "big/job.csv".to_owned(),
        read_lines: u64::MAX,
        skipped_lines: 9_007_199_254_740_993,
        approximation: None,
    };
    assert!(store
        .finish(t, "job", "r1", outcome, T0 + 3)
        .await
        .expect("finish"));
    let done = get(store, t, "job").await.expect("present");
    assert_eq!(done.export_count, u64::MAX - 2);
    assert_eq!(done.file_size, Some((1 << 53) + 1));
    assert_eq!(done.read_lines, u64::MAX);
    assert_eq!(done.skipped_lines, 9_007_199_254_740_993);
}

async fn racing_finishes_of_one_run_have_one_winner(store: &dyn TaskStore) {
    let t = "race";
    for round in 0..10 {
        let id = format!("job{round}");
        store
            .create(&record(t, &id, "n", T0, T0))
            .await
            .expect("create");
        started(store, t, &id, "r1", T0 + 1).await;
        let fail = Outcome::Fail {
            error: TaskError {
                error_code: "X".to_owned(),
                error_msg: "x".to_owned(),
            },
            read_lines: 1,
            skipped_lines: 0,
        };
        let (won_success, won_fail) = tokio::join!(
            store.finish(t, &id, "r1", success("race/ok.csv"), T0 + 2),
            store.finish(t, &id, "r1", fail, T0 + 3),
        );
        let (won_success, won_fail) = (won_success.expect("finish"), won_fail.expect("finish"));
        assert!(
            won_success ^ won_fail,
            "exactly one finish wins, round {round}"
        );
        let done = get(store, t, &id).await.expect("present");
        if won_success {
            assert_eq!(done.status, TaskStatus::Success);
            assert_eq!(done.file_key.as_deref(), Some("race/ok.csv"));
            assert_eq!((done.error, done.end_time), (None, Some(T0 + 2)));
        } else {
            assert_eq!(done.status, TaskStatus::Fail);
            assert_eq!((done.file_key, done.end_time), (None, Some(T0 + 3)));
            assert!(done.error.is_some());
        }
    }
}
