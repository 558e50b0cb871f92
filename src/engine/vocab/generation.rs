//! Identities of compiled objects.

/// A number unique to each compiled object of this process (detectors, role, key ring):
/// caches that outlive a response key their entries by it, so a reload never reuses
/// an entry made with the old rules or keys.
pub fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
