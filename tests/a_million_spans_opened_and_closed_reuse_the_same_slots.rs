//! The registry reuses the slots of closed spans: a million spans opened
//! and closed, nested under spans that stay open, leave its footprint at
//! the number of spans that were ever open at the same time.

use tracing::info_span;

#[test]
fn a_million_spans_opened_and_closed_reuse_the_same_slots() {
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .filter("info")
        .writer(std::io::sink())
        .build()
        .unwrap();
    let counts = tracing::subscriber::with_default(subscriber, || {
        let request = info_span!("request", method = "POST", uri = "/v1/chat/completions");
        let _request = request.enter();
        let handler = info_span!("handler", route = "chat");
        let _handler = handler.enter();
        let db = info_span!("db", table = "users");
        let _db = db.enter();
        for i in 0..1_000_000u64 {
            let conn = info_span!("conn", peer = "10.0.4.65:41959", id = i);
            let _conn = conn.enter();
            let query = info_span!("query", rows = i % 7);
            query.in_scope(|| {});
        }
        let during = current_counts();
        drop(_db);
        drop(db);
        drop(_handler);
        drop(handler);
        drop(_request);
        drop(request);
        (during, current_counts())
    });
    // Live spans and slots ever created: three open spans plus the two
    // opened and closed per iteration, then nothing live.
    assert_eq!(counts, ((3, 5), (0, 5)));
    guard.flush();
}

/// (live spans, slots) of the current dispatcher's dynlog subscriber.
fn current_counts() -> (usize, usize) {
    tracing::dispatcher::get_default(|d| {
        d.downcast_ref::<dynlog::DynlogSubscriber>()
            .expect("dynlog is the current subscriber")
            .span_counts()
    })
}
