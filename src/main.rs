//! `voc`: see `voc --help`.

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    voc::commands::main()
}

/// glibc gives each thread that contends for the allocator an arena of its
/// own (up to 8 per core) and keeps what those arenas freed. The worker
/// allocates on tokio, enrichment and librdkafka threads: two arenas cut the
/// peak RSS of a 50,000-event drain from 414-424 MB to 347-349 MB at the same
/// events/s and CPU per event (docs/benchmarks.md). Runs before any thread
/// starts; `MALLOC_ARENA_MAX` in the environment, if set, wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes an allocator tunable; no thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
