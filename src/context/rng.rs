//! The per-thread random generator behind new trace and span ids.
//!
//! Each thread owns an xoshiro256++ state in a `thread_local!` cell, seeded
//! from the OS on the thread's first draw (`getrandom` where libc has it,
//! else std's randomly keyed hasher over the time and the thread's
//! address). A draw takes no lock, makes no system call and allocates
//! nothing. On Linux and Android a forked child reseeds before its first
//! draw, so parent and child never share a stream. This is not a
//! cryptographic generator: ids must be unique, not secret.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// One thread's generator.
///
/// All-zero `words` is the "not seeded yet" mark: xoshiro never reaches it
/// from a non-zero state, and seeding never produces it.
#[derive(Clone, Copy)]
struct State {
    words: [u64; 4],
    /// The value of [`FORK_GENERATION`] when `words` was seeded.
    generation: u64,
}

thread_local! {
    static STATE: Cell<State> = const { Cell::new(State { words: [0; 4], generation: 0 }) };
}

/// Bumped in a forked child, before `fork` returns there, so that the
/// child's thread sees a stale state and reseeds.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Draws `N` random words from the calling thread's generator.
///
/// Seeds the generator first if this thread has not drawn before or the
/// process has forked since. If the thread's locals are already destroyed
/// (a draw from another local's destructor), it seeds a throwaway state
/// instead of panicking.
pub(crate) fn next_u64s<const N: usize>() -> [u64; N] {
    let drawn = STATE.try_with(|cell| {
        let mut state = cell.get();

        // Relaxed pairs with the `fetch_add` in `after_fork_in_child`, which
        // ran on this very thread (the only one in the child), so program
        // order already makes it visible.
        let generation = FORK_GENERATION.load(Ordering::Relaxed);
        if state.words == [0; 4] || state.generation != generation {
            state = State {
                words: seed(),
                generation,
            };
        }

        let out = draw(&mut state.words);
        cell.set(state);
        out
    });
    match drawn {
        Ok(out) => out,
        Err(_) => draw(&mut seed()),
    }
}

/// Steps xoshiro256++ `N` times.
fn draw<const N: usize>(words: &mut [u64; 4]) -> [u64; N] {
    let mut out = [0u64; N];
    for slot in &mut out {
        *slot = step(words);
    }
    out
}

/// One step of xoshiro256++ (Blackman and Vigna): returns the output for
/// the current state and advances it.
fn step(s: &mut [u64; 4]) -> u64 {
    let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
    let shifted = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= shifted;
    s[3] = s[3].rotate_left(45);

    out
}

/// A fresh, never all-zero state for one thread.
fn seed() -> [u64; 4] {
    register_fork_handler();

    let mut words = os_random().unwrap_or_else(fallback_random);

    // Both sources make all-zero practically impossible; this makes it
    // impossible, which the "not seeded" mark relies on.
    if words == [0; 4] {
        words[0] = 0x9e37_79b9_7f4a_7c15;
    }
    words
}

/// 32 bytes from the kernel, or `None` if it cannot give them now.
///
/// `GRND_NONBLOCK` keeps a thread from hanging at early boot, before the
/// kernel's pool is ready; the fallback covers that case.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn os_random() -> Option<[u64; 4]> {
    let mut bytes = [0u8; 32];

    // SAFETY: `bytes` is a live, writable buffer of exactly `bytes.len()`
    // bytes for the whole call, and getrandom writes at most that many.
    let n = unsafe {
        libc::getrandom(
            bytes.as_mut_ptr().cast::<libc::c_void>(),
            bytes.len(),
            libc::GRND_NONBLOCK,
        )
    };
    if usize::try_from(n).ok() != Some(bytes.len()) {
        return None;
    }

    let mut words = [0u64; 4];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut le = [0u8; 8];
        le.copy_from_slice(chunk);
        *word = u64::from_le_bytes(le);
    }
    Some(words)
}

/// No `getrandom` in libc here: the fallback is the only source.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn os_random() -> Option<[u64; 4]> {
    None
}

/// A seed when the kernel gave none: std's hasher keys (random per process
/// and per thread, from the OS where std can reach it) over the time, this
/// thread's address and a process-wide counter.
fn fallback_random() -> [u64; 4] {
    static CALLS: AtomicU64 = AtomicU64::new(0);

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let local = 0u8;
    let address = core::ptr::addr_of!(local) as usize;

    // Relaxed: the counter only has to differ between calls, it orders
    // nothing else.
    let call = CALLS.fetch_add(1, Ordering::Relaxed);

    let hasher = RandomState::new();
    let mut words = [0u64; 4];
    for (idx, word) in words.iter_mut().enumerate() {
        *word = hasher.hash_one((nanos, address, call, idx));
    }
    words
}

/// Asks libc to run [`after_fork_in_child`] in every forked child. Runs
/// once per process; later calls return at once.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn register_fork_handler() {
    static REGISTER: std::sync::Once = std::sync::Once::new();

    REGISTER.call_once(|| {
        // SAFETY: the handler is a plain `extern "C" fn()` that lives for
        // the whole process and only does an atomic add, which is
        // async-signal-safe as a forked child requires. A failure (ENOMEM)
        // only loses fork detection, so the result is ignored.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

// FIXME: no fork detection outside Linux and Android (matters only for
// programs that fork after drawing ids and keep logging in both processes)
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn register_fork_handler() {}

/// Runs in a forked child before `fork` returns there: marks every state
/// copied from the parent as stale.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe extern "C" fn after_fork_in_child() {
    // Relaxed pairs with the load in `next_u64s`; see there.
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_step_matches_hand_computed_values() {
        // From state [1, 2, 3, 4]: out = rotl(1 + 4, 23) + 1.
        let mut words = [1, 2, 3, 4];
        assert_eq!(step(&mut words), (5u64 << 23) + 1);

        // The state after one step, worked through by hand:
        // t = 2 << 17; s2 = 3 ^ 1 = 2; s3 = 4 ^ 2 = 6; s1 = 2 ^ 2 = 0;
        // s0 = 1 ^ 6 = 7; s2 = 2 ^ t; s3 = rotl(6, 45).
        assert_eq!(words, [7, 0, 2 ^ (2 << 17), 6u64.rotate_left(45)]);
    }

    #[test]
    fn seeds_are_never_zero_and_differ() {
        let first = seed();
        let second = seed();
        assert_ne!(first, [0; 4]);
        assert_ne!(first, second);

        let first = fallback_random();
        let second = fallback_random();
        assert_ne!(first, second);
    }

    #[test]
    fn two_threads_get_different_streams() {
        let draw_some = || (0..64).map(|_| next_u64s::<1>()[0]).collect::<Vec<u64>>();
        let one = std::thread::spawn(draw_some);
        let two = std::thread::spawn(draw_some);
        let one = one.join().unwrap();
        let two = two.join().unwrap();

        assert_ne!(one, two);
        assert!(one.iter().all(|value| !two.contains(value)));
    }

    #[test]
    fn a_new_fork_generation_reseeds_the_thread() {
        let _ = next_u64s::<1>();
        let before = STATE.with(Cell::get);
        let mut predicted = before.words;
        let would_have_drawn = draw::<4>(&mut predicted);

        FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
        let drawn = next_u64s::<4>();
        let after = STATE.with(Cell::get);

        assert_ne!(drawn, would_have_drawn);
        assert_eq!(after.generation, before.generation + 1);
    }
}
