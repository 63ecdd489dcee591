//! Secrets (SKs, security tokens, passwords) and where they come from.
//!
//! A [`Secret`] never shows its value in `Debug` or `Display`. A [`SecretSource`]
//! is a value given inline (flag or environment) or a file, as Kubernetes mounts
//! a Secret; a file is re-read when its modification time or size changes, so a
//! rotated Secret takes effect without a restart.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Mutex,
    time::SystemTime,
};

/// A secret string. Its value is only reachable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must use it (signing, a request body).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(Secret::new(s.trim()))
        }
    }
}

/// Where a secret comes from.
#[derive(Debug)]
pub enum SecretSource {
    /// Given directly (flag or environment variable).
    Inline(Secret),
    /// Read from a file, re-read when the file changes.
    File(SecretFile),
}

impl SecretSource {
    /// The current value.
    pub fn current(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File(f) => f.current(),
        }
    }
}

/// Reading a secret file failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read secret file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("secret file {path} is empty")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The secret cannot travel in an HTTP header (e.g. a control character).
    #[error("{0} is not a valid header value")]
    Unusable(&'static str),
}

/// A file's modification time and length: what says it changed.
type Stamp = (Option<SystemTime>, u64);

/// A secret kept in a file (e.g. a mounted Kubernetes Secret).
pub struct SecretFile {
    path: PathBuf,
    /// The last value read and the file's stamp when it was read.
    cache: Mutex<Option<(Stamp, Secret)>>,
}

impl fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFile")
            .field("path", &self.path)
            .finish()
    }
}

impl SecretFile {
    /// A secret in `path`; reads it once now so that a missing file fails at start.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SecretError> {
        let file = SecretFile {
            path: path.into(),
            cache: Mutex::new(None),
        };
        file.current()?;
        Ok(file)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current value: cached until the file's mtime or size changes.
    pub fn current(&self) -> Result<Secret, SecretError> {
        let read_err = |source| SecretError::Read {
            path: self.path.clone(),
            source,
        };
        let meta = std::fs::metadata(&self.path).map_err(read_err)?;
        let stamp = (meta.modified().ok(), meta.len());
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, value)) = cache.as_ref()
            && *seen == stamp
        {
            return Ok(value.clone());
        }
        let text = std::fs::read_to_string(&self.path).map_err(read_err)?;
        let value = text.trim();
        if value.is_empty() {
            return Err(SecretError::Empty {
                path: self.path.clone(),
            });
        }
        let secret = Secret::new(value);
        *cache = Some((stamp, secret.clone()));
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn files_are_reread_when_they_change() {
        let dir = std::env::temp_dir().join(format!("cbr-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sk");
        std::fs::write(&path, "first\n").unwrap();
        let f = SecretFile::open(&path).unwrap();
        assert_eq!(f.current().unwrap().expose(), "first");
        // A different size is a change even within the mtime's resolution.
        std::fs::write(&path, "second-value\n").unwrap();
        assert_eq!(f.current().unwrap().expose(), "second-value");
        std::fs::write(&path, "  \n").unwrap();
        assert!(matches!(f.current(), Err(SecretError::Empty { .. })));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(f.current(), Err(SecretError::Read { .. })));
        assert!(SecretFile::open(dir.join("missing")).is_err());
        assert!(!format!("{f:?}").contains("first"));
    }
}
