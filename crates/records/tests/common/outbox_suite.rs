//! What every [`CallbackOutbox`] must do: a callback recorded with the end, found when due,
//! leased to one sender at a time, taken over when its sender dies, settled once; stale index
//! entries go away.

use statport_core::outbox::{AttemptResult, DeliveryState};
use statport_records::{CallbackOutbox, Outcome, TaskRef, TaskStore};

use super::record;

const T0: i64 = 1_767_225_600_000;

fn success() -> Outcome {
    Outcome::Success {
        export_count: 1,
        file_size: 1,
        file_key: "k".into(),
        read_lines: 1,
        skipped_lines: 0,
        approximation: None,
    }
}

/// Creates, runs and ends a task of `tenant`, with a callback URL when `callback`.
async fn ended(store: &dyn TaskStore, tenant: &str, id: &str, callback: bool, at: i64) {
    let mut r = record(tenant, id, "n", at, at);
    if callback {
        r.condition.callback_url = Some("https://hooks.example.com/x".into());
    }
    store.create(&r).await.expect("create");
    store.claim(tenant, id, "run-1", at).await.expect("claim");
    assert!(store
        .finish(tenant, id, "run-1", success(), at)
        .await
        .expect("finish"));
}

fn task(tenant: &str, id: &str) -> TaskRef {
    TaskRef {
        tenant_id: tenant.into(),
        task_id: id.into(),
    }
}

/// The suite; `store` is one store seen through both ports.
pub async fn outbox_suite<S: TaskStore + CallbackOutbox>(store: &S) {
    let t = "outbox";
    ended(store, t, "with", true, T0).await;
    ended(store, t, "without", false, T0).await;
    let rec = store.get(t, "with").await.expect("get").expect("present");
    let pending = rec.callback.expect("recorded with the end");
    assert_eq!(pending.delivery_id, "run-1");
    assert_eq!(pending.state, DeliveryState::Pending);
    assert_eq!(
        store
            .get(t, "without")
            .await
            .expect("get")
            .and_then(|r| r.callback),
        None
    );
    let due = store.due_callbacks(T0, 100).await.expect("due");
    assert_eq!(due, vec![task(t, "with")]);

    // One sender at a time.
    let a = store
        .claim_callback(t, "with", "a", T0, 1_000)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(
        a.callback.as_ref().and_then(|c| c.lease_owner.as_deref()),
        Some("a")
    );
    assert!(store
        .claim_callback(t, "with", "b", T0 + 1, 1_000)
        .await
        .expect("claim")
        .is_none());
    assert_eq!(
        store.due_callbacks(T0 + 999, 100).await.expect("due"),
        vec![]
    );

    // a died: after its lease b takes over, and a's late report is refused.
    assert_eq!(
        store.due_callbacks(T0 + 1_000, 100).await.expect("due"),
        vec![task(t, "with")]
    );
    assert!(store
        .claim_callback(t, "with", "b", T0 + 1_000, 1_000)
        .await
        .expect("claim")
        .is_some());
    let delivered = AttemptResult::Delivered { status: 200 };
    assert!(!store
        .record_callback(t, "with", "run-1", "a", &delivered, T0 + 1_001)
        .await
        .expect("record"));
    let retry = AttemptResult::Retry {
        status: Some(503),
        error: "status 503".into(),
        retry_at: T0 + 5_000,
    };
    assert!(store
        .record_callback(t, "with", "run-1", "b", &retry, T0 + 1_002)
        .await
        .expect("record"));
    assert_eq!(
        store.due_callbacks(T0 + 4_999, 100).await.expect("due"),
        vec![]
    );
    assert_eq!(
        store.due_callbacks(T0 + 5_000, 100).await.expect("due"),
        vec![task(t, "with")]
    );
    store
        .claim_callback(t, "with", "c", T0 + 5_000, 1_000)
        .await
        .expect("claim")
        .expect("due again");
    // A report for another delivery id is refused.
    assert!(!store
        .record_callback(t, "with", "run-0", "c", &delivered, T0 + 5_001)
        .await
        .expect("record"));
    assert!(store
        .record_callback(t, "with", "run-1", "c", &delivered, T0 + 5_002)
        .await
        .expect("record"));
    let done = store
        .get(t, "with")
        .await
        .expect("get")
        .and_then(|r| r.callback)
        .expect("kept");
    assert_eq!(done.state, DeliveryState::Delivered);
    assert_eq!(done.attempts, 2);
    assert_eq!(done.last_status, Some(200));
    assert_eq!(done.delivered_at, Some(T0 + 5_002));
    assert_eq!(
        store.due_callbacks(i64::MAX, 100).await.expect("due"),
        vec![]
    );

    // A task deleted with its callback pending: offered at most once more, then gone.
    ended(store, t, "deleted", true, T0).await;
    store.delete(t, "deleted").await.expect("delete");
    for r in store.due_callbacks(T0 + 10, 100).await.expect("due") {
        assert!(store
            .claim_callback(&r.tenant_id, &r.task_id, "d", T0 + 10, 1_000)
            .await
            .expect("claim")
            .is_none());
    }
    assert_eq!(
        store.due_callbacks(T0 + 10, 100).await.expect("due"),
        vec![]
    );

    // Soonest due first, and the limit holds.
    ended(store, t, "later", true, T0 + 20).await;
    ended(store, t, "sooner", true, T0 + 10).await;
    assert_eq!(
        store.due_callbacks(T0 + 30, 1).await.expect("due"),
        vec![task(t, "sooner")]
    );
}
