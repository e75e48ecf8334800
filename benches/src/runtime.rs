//! The tokio runtime the tokio baselines run on (`tokio-line-echo`, `tokio-framed-echo`,
//! `tokio-rustls-echo`): included by each with `#[path]`, so all three run alike.

/// A current-thread runtime for one worker (like weft's one reactor), a multi-thread one of
/// `workers` threads otherwise; `None` is one worker per CPU.
pub(crate) fn runtime(workers: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}
