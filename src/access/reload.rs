//! Files re-read when they change: the authorization policy and the JWKS.
//!
//! A file is loaded once at start (a broken file then stops the gateway, so a
//! typo cannot start it open), then checked every interval: when its bytes
//! change it is parsed again and, if it parses, swapped in atomically; if not,
//! the last good version stays and the error is logged once per broken
//! version. Polling the bytes rather than watching inotify events works the
//! same for a plain file, a Kubernetes ConfigMap or Secret mount (a symlink
//! swapped under the watcher) and an editor's rename-on-save.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Weak},
    time::Duration,
};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;

/// Largest file read: policies and key sets are small, and a file that is not
/// must not be read into memory whole.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A file that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}: {reason}", path.display())]
pub struct LoadError {
    /// Which setting the file belongs to, e.g. `authorization policy`.
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// Reads `path`, at most [`MAX_FILE_BYTES`].
fn read(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}

/// Loads `path` with `parse` now, then keeps the returned value current in a
/// background task that lives as long as the value is shared.
pub(crate) fn watch<T, P>(
    what: &'static str,
    path: &Path,
    interval: Duration,
    metrics: Arc<Metrics>,
    parse: P,
) -> Result<Arc<ArcSwap<T>>, LoadError>
where
    T: Send + Sync + 'static,
    P: Fn(&[u8]) -> Result<T, String> + Send + 'static,
{
    let error = |reason| LoadError {
        what,
        path: path.to_owned(),
        reason,
    };
    let bytes = read(path).map_err(error)?;
    let value = parse(&bytes).map_err(error)?;
    let current = Arc::new(ArcSwap::from_pointee(value));
    tracing::info!(file = %path.display(), "{what} loaded");
    let watcher = Watcher {
        what,
        path: path.to_owned(),
        interval,
        seen: digest(&bytes),
        current: Arc::downgrade(&current),
        metrics,
    };
    tokio::spawn(watcher.run(parse));
    Ok(current)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

struct Watcher<T> {
    what: &'static str,
    path: PathBuf,
    interval: Duration,
    /// The digest of the bytes last looked at, good or broken.
    seen: [u8; 32],
    current: Weak<ArcSwap<T>>,
    metrics: Arc<Metrics>,
}

impl<T> Watcher<T> {
    async fn run<P>(mut self, parse: P)
    where
        P: Fn(&[u8]) -> Result<T, String>,
    {
        let mut unreadable = false;
        loop {
            tokio::time::sleep(self.interval).await;
            // The gateway that used this value has stopped.
            let Some(current) = self.current.upgrade() else {
                return;
            };
            let bytes = match read(&self.path) {
                Ok(bytes) => {
                    unreadable = false;
                    bytes
                }
                Err(reason) => {
                    // A ConfigMap swap can hide the file for a moment: say so
                    // once, keep the last good version, and look again.
                    if !unreadable {
                        tracing::warn!(file = %self.path.display(), error = %reason, "cannot read the {}; keeping the last good one", self.what);
                        self.metrics.access_reload(self.what, false);
                    }
                    unreadable = true;
                    continue;
                }
            };
            let seen = digest(&bytes);
            if seen == self.seen {
                continue;
            }
            self.seen = seen;
            match parse(&bytes) {
                Ok(value) => {
                    current.store(Arc::new(value));
                    tracing::info!(file = %self.path.display(), "{} reloaded", self.what);
                    self.metrics.access_reload(self.what, true);
                }
                Err(reason) => {
                    tracing::error!(file = %self.path.display(), error = %reason, "the {} is broken; keeping the last good one", self.what);
                    self.metrics.access_reload(self.what, false);
                }
            }
        }
    }
}
