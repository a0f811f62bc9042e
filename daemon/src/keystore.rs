//! Node keys. `software`: Ed25519 seeds in files of mode 0600 under
//! `DATA_DIR/keys` (directory 0700), written atomically.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use web4_core::SecretKey;

/// A key file problem.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: not a key file (expected 64 hex characters of an Ed25519 seed)")]
    Format { path: String },
    #[error("{path}: permissions {mode:o} are too open; run chmod 600 {path}")]
    Permissions { path: String, mode: u32 },
    #[error("{path}: already exists; refusing to overwrite a key")]
    Exists { path: String },
    #[error("no randomness available: {0}")]
    Random(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |error| KeyError::Io { path: path.display().to_string(), error }
}

/// 32 random bytes from the OS.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(b)
}

/// A fresh random key.
pub fn generate() -> Result<SecretKey, KeyError> {
    Ok(SecretKey::from_seed(&random_bytes::<32>()?))
}

/// Write `key` to `path` with mode 0600, never overwriting.
pub fn write_key(path: &Path, key: &SecretKey) -> Result<(), KeyError> {
    let hex = data_encoding::HEXLOWER.encode(&key.seed());
    write_private(path, format!("{hex}\n").as_bytes())
}

/// Write `bytes` to `path` with mode 0600 in a 0700 directory, atomically and
/// durably, never overwriting.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    if path.exists() {
        return Err(KeyError::Exists { path: path.display().to_string() });
    }
    let tmp: PathBuf = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    }
    Ok(())
}

/// A short, file-name-safe tag of an LCT id (its last 16 characters).
pub fn id_suffix(id: &web4_core::LctId) -> String {
    let s: String = id.as_str().chars().filter(char::is_ascii_alphanumeric).collect();
    s[s.len().saturating_sub(16)..].to_owned()
}

/// Read a key file, refusing files readable by group or others.
pub fn read_key(path: &Path) -> Result<SecretKey, KeyError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions { path: path.display().to_string(), mode });
    }
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let bytes =
        web4_core::crypto::decode_hex(text.trim()).ok_or(KeyError::Format { path: path.display().to_string() })?;
    let seed: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Format { path: path.display().to_string() })?;
    Ok(SecretKey::from_seed(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys/node.key");
        let k = generate().unwrap();
        write_key(&p, &k).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_key(&p).unwrap().public_key(), k.public_key());
        assert!(matches!(write_key(&p, &k), Err(KeyError::Exists { .. })));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_key(&p), Err(KeyError::Permissions { .. })));
    }
}
