//! HTTPS with `axum::serve`: a listener whose connections are TLS streams.
//!
//! Why a listener and not a hand-made hyper-util accept loop or axum-server: `axum::serve`
//! already runs hyper-util's auto (HTTP/1.1 + h2) connection builder and the graceful
//! shutdown the plain server uses, so plain and TLS serving share one code path, and the
//! only new part is the handshake. The handshake must not run inside `accept` (axum awaits
//! `accept` before the next one, so one slow client would stall every other): a task accepts
//! TCP connections and spawns one handshake per connection, bounded in time and in number,
//! and `accept` hands out the streams whose handshake completed.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::ServerTls;

/// Handshakes under way at once; beyond it, accepting waits (the kernel's backlog holds the
/// next connections), so a flood of clients that never finish costs bounded memory.
pub const HANDSHAKES_IN_FLIGHT_MAX: usize = 1_024;

/// Connections whose handshake completed, waiting for `accept`.
const READY_QUEUED_MAX: usize = 64;

/// An `axum::serve::Listener` serving TLS on the connections of `L`. Dropping it (as
/// `axum::serve` does when it shuts down) stops accepting and closes `L`.
pub struct TlsListener<L: Listener> {
    ready: mpsc::Receiver<(TlsStream<L::Io>, L::Addr)>,
    local_addr: L::Addr,
    accepting: JoinHandle<()>,
}

impl<L> TlsListener<L>
where
    L: Listener,
    L::Addr: Clone + 'static,
{
    /// Starts accepting on `inner` (needs a tokio runtime).
    pub fn new(inner: L, tls: &ServerTls) -> io::Result<TlsListener<L>> {
        let local_addr = inner.local_addr()?;
        let (sender, ready) = mpsc::channel(READY_QUEUED_MAX);
        let accepting = tokio::spawn(accept_loop(
            inner,
            tls.acceptor(),
            tls.handshake_timeout(),
            sender,
        ));
        Ok(TlsListener {
            ready,
            local_addr,
            accepting,
        })
    }
}

impl<L: Listener> Drop for TlsListener<L> {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl<L> Listener for TlsListener<L>
where
    L: Listener,
    L::Addr: Clone + 'static,
{
    type Io = TlsStream<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop only ends when this listener is dropped (it never returns on
            // its own), so this is not reached; waiting forever is what a listener with no
            // more connections does.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr.clone())
    }
}

async fn accept_loop<L>(
    mut inner: L,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    ready: mpsc::Sender<(TlsStream<L::Io>, L::Addr)>,
) where
    L: Listener,
    L::Addr: 'static,
{
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES_IN_FLIGHT_MAX));
    loop {
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return; // never closed
        };
        let (io, address) = inner.accept().await;
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(io)).await;
            drop(permit);
            match handshake {
                Ok(Ok(stream)) => {
                    // Fails only when the listener is gone; the connection then closes.
                    let _ = ready.send((stream, address)).await;
                }
                // Scanners and plain-HTTP clients fail here all the time: not a warning.
                Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                Err(_) => tracing::debug!(?handshake_timeout, "TLS handshake timed out"),
            }
        });
    }
}
