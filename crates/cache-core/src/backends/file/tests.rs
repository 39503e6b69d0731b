//! The file backend's own checks: the directory's permissions and lock, corrupted files, culling, unusable
//! locations (the conformance suite runs in `tests/conformance.rs`).

use std::fs;

use super::dir::{LOCK_FILE, LOCK_WAIT};
use super::*;

fn backend() -> (tempfile::TempDir, FileBackend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = FileBackend::new(dir.path().join("cache")).expect("backend");
    (dir, backend)
}

#[cfg(unix)]
#[test]
fn directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, backend) = backend();
    let mode = fs::metadata(backend.dir())
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

/// Two backends on one directory stand for two processes: their swaps exclude each other through the
/// directory's `flock`, not through anything in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compare_and_set_is_atomic_across_backends_sharing_a_directory() {
    let (dir, one) = backend();
    let two = FileBackend::new(dir.path().join("cache")).expect("second backend");
    one.set("n", Bytes::from_static(b"0"), Expiry::Never)
        .await
        .expect("set");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let backend = if i % 2 == 0 { one.clone() } else { two.clone() };
            tokio::spawn(async move {
                loop {
                    let current = backend.get("n").await.expect("get").expect("present");
                    let next: u64 = std::str::from_utf8(&current)
                        .expect("text")
                        .parse::<u64>()
                        .expect("number")
                        + 1;
                    let swapped = backend
                        .compare_and_set(
                            "n",
                            &current,
                            Bytes::from(next.to_string()),
                            Expiry::Never,
                        )
                        .await
                        .expect("compare_and_set");
                    if swapped {
                        return;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(
        one.get("n").await.expect("get").as_deref(),
        Some(&b"20"[..])
    );
    assert!(
        !one.inner
            .entry_files()
            .expect("list")
            .iter()
            .any(|p| p.ends_with(LOCK_FILE)),
        "the lock file is not an entry"
    );
}

#[tokio::test]
async fn a_stuck_lock_holder_makes_writes_fail_not_hang() {
    let (_dir, backend) = backend();
    backend
        .set("k", Bytes::from_static(b"v"), Expiry::Never)
        .await
        .expect("set");
    // Another process holding the lock: a separately opened file description, as a process has.
    let holder = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(backend.dir().join(LOCK_FILE))
        .expect("open lock file");
    holder.lock().expect("lock");
    let started = std::time::Instant::now();
    let result = backend
        .compare_and_set("k", b"v", Bytes::from_static(b"w"), Expiry::Never)
        .await;
    assert!(matches!(result, Err(Error::Backend { .. })), "{result:?}");
    assert!(started.elapsed() >= LOCK_WAIT);
    assert!(
        backend.delete("k").await.is_err(),
        "delete waits for the lock too"
    );
    // Reads never lock.
    assert_eq!(
        backend.get("k").await.expect("get").as_deref(),
        Some(&b"v"[..])
    );
    holder.unlock().expect("unlock");
    assert!(backend
        .compare_and_set("k", b"v", Bytes::from_static(b"w"), Expiry::Never)
        .await
        .expect("after the holder let go"));
}

#[tokio::test]
async fn corrupted_files_are_misses_and_removed() {
    let (_dir, backend) = backend();
    for (key, content) in [("short", &b"TDC"[..]), ("magic", &b"XXXX00000000value"[..])] {
        let path = backend.path_for(key);
        fs::write(&path, content).expect("write");
        assert_eq!(backend.get(key).await.expect("get"), None);
        assert!(!path.exists(), "{key}: corrupted file kept");
        assert!(!backend.has_key(key).await.expect("has_key"));
    }
    let path = backend.path_for("empty");
    fs::write(&path, b"").expect("write");
    assert_eq!(backend.get("empty").await.expect("get"), None);
}

/// Django's layout: a file Django could not read either (no expiry pickle, an expiry that is not a time,
/// a body that is not zlib, a zlib bomb) is a miss and removed; an empty file is expired, as in Django.
#[tokio::test]
async fn corrupted_django_files_are_misses_and_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = FileBackend::builder(dir.path().join("cache"))
        .django_layout()
        .build()
        .expect("backend");
    let never = b"\x80\x05N.".to_vec();
    let mut bomb = never.clone();
    bomb.extend_from_slice(&crate::codec::django::stored::deflate(&vec![0; 600 << 20]));
    let mut not_zlib = never.clone();
    not_zlib.extend_from_slice(b"not zlib");
    let cases: [(&str, Vec<u8>); 5] = [
        ("empty", Vec::new()),
        ("no-expiry", b"garbage".to_vec()),
        ("expiry-a-string", b"\x80\x05\x8c\x01a.".to_vec()),
        ("not-zlib", not_zlib),
        ("bomb", bomb),
    ];
    for (key, content) in cases {
        let path = backend.path_for(key);
        assert!(path.to_string_lossy().ends_with(".djcache"));
        fs::write(&path, content).expect("write");
        assert_eq!(backend.get(key).await.expect("get"), None, "{key}");
        assert!(!path.exists(), "{key}: unreadable file kept");
    }
    // What Django writes for `cache.set(k, 42, None)`, read back as the integer's text.
    let mut django = never;
    django.extend_from_slice(&crate::codec::django::stored::deflate(b"\x80\x05K*."));
    fs::write(backend.path_for("answer"), django).expect("write");
    assert_eq!(
        backend.get("answer").await.expect("get").as_deref(),
        Some(&b"42"[..])
    );
    assert_eq!(backend.incr("answer", 1).await.expect("incr"), 43);
}

#[tokio::test]
async fn clear_keeps_other_files() {
    let (_dir, backend) = backend();
    let other = backend.dir().join("keep.txt");
    fs::write(&other, b"mine").expect("write");
    backend
        .set("k", Bytes::from_static(b"v"), Expiry::Never)
        .await
        .expect("set");
    backend.clear().await.expect("clear");
    assert!(other.exists());
    assert!(backend.dir().exists());
    assert_eq!(backend.get("k").await.expect("get"), None);
}

#[tokio::test]
async fn a_removed_directory_is_recreated_on_write() {
    let (_dir, backend) = backend();
    fs::remove_dir_all(backend.dir()).expect("remove");
    assert_eq!(backend.get("k").await.expect("get on a missing dir"), None);
    backend
        .set("k", Bytes::from_static(b"v"), Expiry::Never)
        .await
        .expect("set recreates the directory");
    assert!(backend.get("k").await.expect("get").is_some());
}

#[tokio::test]
async fn cull_frequency_zero_clears() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = FileBackend::builder(dir.path())
        .max_entries(5)
        .cull_frequency(0)
        .build()
        .expect("backend");
    for i in 0..5 {
        backend
            .set(&format!("k{i}"), Bytes::from_static(b"v"), Expiry::Never)
            .await
            .expect("set");
    }
    backend
        .set("last", Bytes::from_static(b"v"), Expiry::Never)
        .await
        .expect("set");
    assert_eq!(backend.inner.entry_files().expect("list").len(), 1);
}

#[test]
fn an_unusable_directory_is_a_config_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    fs::write(&file, b"x").expect("write");
    for bad in [file.clone(), file.join("below")] {
        match FileBackend::new(&bad) {
            Err(Error::Config(message)) => {
                assert!(message.contains("cannot create"), "{message}")
            }
            other => panic!(
                "expected a config error for {}, got {other:?}",
                bad.display()
            ),
        }
    }
}

#[tokio::test]
async fn an_unwritable_location_is_a_backend_error_not_a_panic() {
    // Replacing the directory with a plain file makes every write fail, even for root (permission
    // bits do not stop root).
    let (_dir, backend) = backend();
    fs::remove_dir_all(backend.dir()).expect("remove");
    fs::write(backend.dir(), b"not a directory").expect("write");
    let err = backend
        .set("k", Bytes::from_static(b"v"), Expiry::Never)
        .await
        .expect_err("cannot write into a file");
    assert!(err.is_backend(), "{err}");
    assert!(backend.add("k", Bytes::new(), Expiry::Never).await.is_err());
    let read = backend.get("k").await;
    assert!(
        matches!(read, Ok(None) | Err(Error::Backend { .. })),
        "{read:?}"
    );
}
