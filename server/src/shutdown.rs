//! Turns SIGINT/SIGTERM into one cancellation that every task listens to.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Cancels `token` at the first SIGINT or SIGTERM. The listener is a task
/// on `tasks` that ends with the token, whoever cancels it.
pub fn cancel_on_signal(tasks: &TaskTracker, token: CancellationToken) {
    tasks.spawn(async move {
        tokio::select! {
            () = wait_for_signal() => {
                tracing::info!("shutdown requested; finishing in-flight work");
                token.cancel();
            }
            () = token.cancelled() => {}
        }
    });
}

async fn wait_for_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
