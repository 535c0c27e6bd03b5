//! With span directives configured, the event path still allocates
//! nothing: after a warm-up, thousands of events inside matching and
//! non-matching spans, passing and filtered, make no heap allocation on
//! the calling thread. A counting global allocator is per binary, so this
//! file holds one test.

mod thread_alloc_count;

/// Counts allocations made by threads that asked to be counted.
#[global_allocator]
static ALLOCATOR: thread_alloc_count::Counting = thread_alloc_count::Counting;

/// Three events: a debug one that passes only inside `req{user=42}`, an
/// info one and a `db` debug one that pass everywhere but in `health`.
fn events(i: u64) {
    tracing::debug!(i, "plain debug");
    tracing::info!(i, ok = true, "plain info");
    tracing::debug!(target: "db", i, "db debug");
}

#[test]
fn span_directives_allocate_nothing_per_event() {
    let filter = "info,[req{user=42}]=debug,[health]=off,db=debug,app[job]=trace";
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .filter(filter)
        .writer(std::io::sink())
        .build()
        .expect("dynlog: the filter builds");

    tracing::subscriber::with_default(subscriber, || {
        let req = tracing::info_span!("req", user = 42, path = "/v1/chat");
        let health = tracing::info_span!("health");
        let other = tracing::info_span!("other", user = 7);
        let round = |i: u64| {
            events(i);
            req.in_scope(|| {
                events(i);
                tracing::trace!(i, "req trace, filtered");
                tracing::debug!(i, text = "x", "req debug, passes");
            });
            health.in_scope(|| tracing::error!(i, "health, silenced"));
            other.in_scope(|| tracing::debug!(i, "other, filtered"));
        };

        // Warm-up: thread state, buffers and cached scopes grow once.
        for i in 0..1000 {
            round(i);
        }

        thread_alloc_count::count_this_thread(true);
        for i in 0..10_000 {
            round(i);
        }
        thread_alloc_count::count_this_thread(false);
    });
    guard.flush();

    assert_eq!(thread_alloc_count::allocations(), 0);

    // The events did pass: per round, two outside spans and four in
    // `req`; for 1 000 warm-up rounds and 10 000 counted ones.
    assert_eq!(guard.stats().lines_written, 11_000 * 6);
}
