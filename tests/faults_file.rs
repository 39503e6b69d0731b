//! The directories of the file cache backend and the file session store disappear or stop being writable
//! under load, then come back.
//!
//! The app keeps its sessions in a `FileStore` and its cached pages in a `FileBackend`, each in its own
//! directory of a temporary directory, with the session layer's error response configured to 503. Then,
//! with several browsers going, both directories are for 5 s:
//!
//! - [`directories_removed`]: deleted with everything in them; the test then recreates the session
//!   directory (the file store, like Django's, never creates it) and checks that the cache backend
//!   recreated its own. The sessions are gone with their files: a request that loaded its session just
//!   before may answer Django's 400 (session deleted meanwhile), and each browser then starts anew;
//! - [`directories_replaced_by_files`]: a regular file of the same name in each one's place (every open
//!   and create below it fails with `ENOTDIR`), then the directories back, each swap atomic (see
//!   [`Dirs`]). Running as root, `chmod` cannot make a directory unwritable; this needs no privilege;
//! - [`directories_read_only`]: bind-mounted read-only onto themselves (`mount --bind`, then
//!   `mount -o remount,bind,ro`), then unmounted: reads work, writes fail with `EROFS`. Needs root and a
//!   `mount` that works; skipped (with a message on stderr) otherwise.
//!
//! Expected: pages answer 200 throughout (the page cache fails open, or never fails); `/count` answers the
//! configured 503 within the bound while the session directory is unusable, and works again once it is
//! back; sessions survive when their files did.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::StatusCode;
use tempfile::TempDir;
use tokio::process::Command;
use tower_django::cache::backends::FileBackend;
use tower_django::cache::Cache;
use tower_django::sessions::store::FileStore;

use support::process::{run, running_as_root, try_run};
use support::scenario::{self, Expect, Fault, Sessions, Target};

/// How many times a read-only remount is tried while the app has files open for writing.
const REMOUNT_ATTEMPTS: u32 = 200;

/// The session directory and the cache directory, side by side, reached through a symbolic link:
/// `<tmp>/live -> real`, the app using `<tmp>/live/sessions` and `<tmp>/live/cache`. Pointing the link
/// elsewhere swaps both at once: a rename over a symbolic link is atomic, so no request ever finds neither
/// the directory nor what replaced it (a moment with no entry at all reads as an unknown session, and the
/// browser would get a new one).
struct Dirs {
    root: TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        let dirs = Dirs {
            root: tempfile::tempdir().expect("a temporary directory"),
        };
        std::fs::create_dir_all(dirs.root.path().join(REAL).join("sessions"))
            .expect("the session directory");
        std::os::unix::fs::symlink(REAL, dirs.root.path().join(LIVE)).expect("the link");
        dirs
    }

    fn sessions(&self) -> PathBuf {
        self.root.path().join(LIVE).join("sessions")
    }

    fn cache(&self) -> PathBuf {
        self.root.path().join(LIVE).join("cache")
    }

    fn both(&self) -> [PathBuf; 2] {
        [self.sessions(), self.cache()]
    }

    /// Points the link at `target`, a directory beside it, atomically.
    async fn point_to(&self, target: &str) {
        let next = self.root.path().join("live.next");
        tokio::fs::symlink(target, &next)
            .await
            .expect("the next link");
        tokio::fs::rename(&next, self.root.path().join(LIVE))
            .await
            .expect("swap the link");
    }
}

/// Where the link points normally: the real directories.
const REAL: &str = "real";

/// The link the app's paths go through.
const LIVE: &str = "live";

/// Where the link points while regular files stand in place of the directories.
const FILES: &str = "files";

/// Deletes `dir` and everything in it, at once: renamed away first, so no request sees it half-emptied
/// (a request between two unlinks of `rm -r` would find its session gone but still be able to create one).
async fn remove_dir(dir: &Path) {
    let doomed = dir.with_extension("removed");
    tokio::fs::rename(dir, &doomed)
        .await
        .expect("move the directory away");
    tokio::fs::remove_dir_all(&doomed)
        .await
        .expect("remove the directory");
}

impl Target for Dirs {
    async fn start(_test: &str) -> Option<Dirs> {
        Some(Dirs::new())
    }

    /// The app with its sessions and pages in the directories, its session errors answered with 503.
    async fn serve(&self) -> support::app::App {
        let sessions = FileStore::new(self.sessions()).expect("a file session store");
        let pages = FileBackend::new(self.cache()).expect("a file cache");
        support::app::serve(
            sessions,
            Cache::new(pages),
            Some(StatusCode::SERVICE_UNAVAILABLE),
        )
        .await
    }
}

/// Both directories deleted; the session directory made again by the test.
struct Removed;

impl Fault<Dirs> for Removed {
    async fn inject(&mut self, dirs: &mut Dirs) {
        for dir in dirs.both() {
            remove_dir(&dir).await;
        }
    }

    async fn repair(&mut self, dirs: &mut Dirs) {
        tokio::fs::create_dir_all(dirs.sessions())
            .await
            .expect("the session directory again");
    }

    fn checks(&self, dirs: &Dirs) -> Vec<(bool, &'static str)> {
        vec![(
            dirs.cache().is_dir(),
            "the file cache recreated its removed directory",
        )]
    }
}

/// Both directories replaced by regular files of the same names (the link pointed at a directory
/// holding those files), then back.
struct ReplacedByFiles;

impl Fault<Dirs> for ReplacedByFiles {
    async fn inject(&mut self, dirs: &mut Dirs) {
        let files = dirs.root.path().join(FILES);
        tokio::fs::create_dir_all(&files)
            .await
            .expect("a directory for the files");
        for name in ["sessions", "cache"] {
            tokio::fs::write(files.join(name), "not a directory")
                .await
                .expect("a file in the directory's place");
        }
        dirs.point_to(FILES).await;
    }

    async fn repair(&mut self, dirs: &mut Dirs) {
        dirs.point_to(REAL).await;
    }
}

/// Both directories bind-mounted read-only onto themselves; unmounted by `repair`, or on drop.
#[derive(Default)]
struct ReadOnly {
    mounted: Vec<PathBuf>,
}

impl Fault<Dirs> for ReadOnly {
    /// Whether read-only bind mounts work here (root, and a `mount` the container allows); says on stderr
    /// why not.
    async fn possible(&self, dirs: &Dirs, test: &str) -> bool {
        let skip = |why: &str| {
            tower_django::cache::testing::say_once(&format!("skipping {test}: {why}"));
            false
        };
        if !running_as_root() {
            return skip("read-only bind mounts need root");
        }
        let probe = dirs.root.path().join("probe");
        std::fs::create_dir(&probe).expect("a probe directory");
        let mounted = Command::new("mount")
            .arg("--bind")
            .arg(&probe)
            .arg(&probe)
            .output()
            .await
            .is_ok_and(|output| output.status.success());
        if !mounted {
            return skip("`mount --bind` does not work here");
        }
        run("umount the probe", Command::new("umount").arg(&probe)).await;
        true
    }

    async fn inject(&mut self, dirs: &mut Dirs) {
        for dir in dirs.both() {
            run(
                "mount --bind",
                Command::new("mount").arg("--bind").arg(&dir).arg(&dir),
            )
            .await;
            self.mounted.push(dir.clone());
            // The remount fails (EBUSY) while the app holds a file open for writing through the new
            // mount; those writes take milliseconds, so try again.
            let remount = || {
                let mut command = Command::new("mount");
                command.args(["-o", "remount,bind,ro"]).arg(&dir).arg(&dir);
                command
            };
            let mut attempts = 0;
            while let Err(failure) = try_run("mount -o remount,bind,ro", &mut remount()).await {
                attempts += 1;
                assert!(attempts < REMOUNT_ATTEMPTS, "{failure}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    async fn repair(&mut self, _dirs: &mut Dirs) {
        while let Some(dir) = self.mounted.pop() {
            // Lazy: the app keeps reading files there, which a plain umount refuses (EBUSY); detached,
            // new opens reach the directory underneath at once.
            run(
                "umount --lazy",
                Command::new("umount").arg("--lazy").arg(&dir),
            )
            .await;
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        // A failed test must not leave mounts behind (nor a temporary directory it cannot remove).
        for dir in self.mounted.drain(..) {
            let _ = std::process::Command::new("umount")
                .arg("--lazy")
                .arg(&dir)
                .status();
        }
    }
}

#[tokio::test]
async fn directories_removed() {
    let expect = Expect {
        // The session files went with their directory.
        sessions: Sessions::LostOnce,
        // The cache backend recreates its directory before each write.
        pages_fail: false,
        ..Expect::outage(503)
    };
    scenario::test::<Dirs>("faults_file::directories_removed", Removed, expect).await;
}

#[tokio::test]
async fn directories_replaced_by_files() {
    let name = "faults_file::directories_replaced_by_files";
    scenario::test::<Dirs>(name, ReplacedByFiles, Expect::outage(503)).await;
}

#[tokio::test]
async fn directories_read_only() {
    let expect = Expect {
        // Every page is cached before the fault and read-only pages are still hits.
        pages_fail: false,
        ..Expect::outage(503)
    };
    let name = "faults_file::directories_read_only";
    scenario::test::<Dirs>(name, ReadOnly::default(), expect).await;
}
