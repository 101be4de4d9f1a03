//! Ctrl-C and SIGTERM: one listener per command that flips a shared `stop`,
//! which every phase of a run or a watch watches (what completed is kept and
//! reported).

/// One signal listener for the whole run: Ctrl-C or SIGTERM flips the
/// returned `stop`, which every phase watches; abort the task when done.
pub(super) fn stop_on_signals() -> (
    std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    tokio::task::JoinHandle<()>,
) {
    let (stop_tx, _) = tokio::sync::watch::channel(false);
    let stop = std::sync::Arc::new(stop_tx);
    let signals = {
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            interrupted().await;
            let _ = stop.send(true);
        })
    };
    (stop, signals)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
