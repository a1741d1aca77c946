//! `voc`: see `voc --help`.

/// jemalloc instead of glibc's allocator. The worker allocates on tokio,
/// enrichment and librdkafka threads; on a 50,000-event drain with alerting,
/// three alternating runs (docs/benchmarks.md): glibc 0.070-0.097 CPU s per
/// 1,000 events and 412-478 MB peak RSS; jemalloc with the settings below
/// 0.063-0.083 and 331-348 MB. (glibc capped at two arenas saved memory but
/// cost 10-27 % CPU; mimalloc used more memory.)
#[cfg(unix)]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read at start-up (the `_RJEM_MALLOC_CONF` environment
/// variable overrides them): two arenas; a background thread returns pages
/// freed for a second (`dirty_decay_ms`) to the OS instead of the worker
/// keeping its peak forever.
#[cfg(unix)]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 70] =
    b"narenas:2,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> std::process::ExitCode {
    voc::commands::main()
}
