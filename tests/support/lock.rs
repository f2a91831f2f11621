//! One Docker user at a time on this machine: the e2e tests and the bench take an exclusive
//! `flock` on one file (so two checkouts testing at once never share the engine), and the e2e
//! test threads of one binary also take a process-wide mutex. A `DockerLock` prints how long its
//! holder held it when it is released, past libtest's capture of `eprintln!`, so every test run
//! shows what each end-to-end test costs.

use anyhow::{bail, Context, Result};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Serialises Docker tests between the threads of one test binary: the machine has 2 cores.
static DOCKER: Mutex<()> = Mutex::new(());

/// Waits for, then holds while the returned file lives, the machine-wide lock of Docker tests.
pub fn machine_lock() -> Result<std::fs::File> {
    let path = std::env::temp_dir().join("pgha-e2e.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    eprintln!("waiting for the Docker test lock {}", path.display());
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
    if rc != 0 {
        bail!(
            "flock {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(file)
}

/// Held while a Docker test runs: the process mutex and the machine lock.
pub struct DockerLock {
    _file: std::fs::File,
    _guard: MutexGuard<'static, ()>,
    /// The test holding the lock (libtest names each test's thread after it) and since when.
    test: String,
    since: Instant,
}

impl DockerLock {
    pub fn take() -> Result<DockerLock> {
        let guard = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
        let file = machine_lock()?;
        Ok(DockerLock {
            _file: file,
            _guard: guard,
            test: std::thread::current()
                .name()
                .unwrap_or("unnamed test")
                .to_string(),
            since: Instant::now(),
        })
    }
}

impl Drop for DockerLock {
    fn drop(&mut self) {
        use std::io::Write;
        let line = format!(
            "e2e time: {} {:.1} s{}\n",
            self.test,
            self.since.elapsed().as_secs_f64(),
            if std::thread::panicking() {
                " (failed)"
            } else {
                ""
            }
        );
        std::io::stderr().write_all(line.as_bytes()).ok();
    }
}
