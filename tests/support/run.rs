//! Running a program as a user would, with a deadline: the child is killed when it passes, and
//! its output is read on threads so a chatty child never blocks on a full pipe. `docker` is the
//! one way the kit calls the docker CLI: it fails when docker exits non-zero, naming the
//! arguments and docker's own error.

use anyhow::{bail, Context, Result};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one docker CLI call may take.
pub const DOCKER_DEADLINE: Duration = Duration::from_secs(120);

/// Runs `cmd` (no standard input) until it exits or `deadline` passes; its output whatever the
/// exit code. A passed deadline is an error carrying what the child wrote on stderr.
pub fn run_with_deadline(cmd: &mut Command, deadline: Duration) -> Result<Output> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {what}"))?;
    let mut so = child.stdout.take().context("child stdout")?;
    let mut se = child.stderr.take().context("child stderr")?;
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut b).ok();
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut b).ok();
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > deadline {
            child.kill().ok();
            let s = child.wait()?;
            let err = text(&t_err.join().unwrap_or_default());
            bail!("{what} did not finish within {deadline:?} ({s}); stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    })
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `docker <args>`: its stdout; an error when it fails or takes longer than `DOCKER_DEADLINE`.
pub fn docker(args: &[&str]) -> Result<String> {
    let out = run_with_deadline(Command::new("docker").args(args), DOCKER_DEADLINE)?;
    if !out.status.success() {
        bail!("docker {args:?} failed: {}", text(&out.stderr).trim());
    }
    Ok(text(&out.stdout))
}

/// The non-empty lines of `s`.
pub fn lines(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// Removes every container, network and volume labelled `io.pgha.test=<test>`: leftovers of an
/// earlier run, or what a run made, and nothing else.
pub fn remove_by_test_label(test: &str) -> Result<()> {
    let filter = format!("label=io.pgha.test={test}");
    let ids = lines(&docker(&["ps", "-aq", "--filter", &filter])?);
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(ids.iter().map(String::as_str));
        docker(&args)?;
    }
    for n in lines(&docker(&["network", "ls", "-q", "--filter", &filter])?) {
        docker(&["network", "rm", &n])?;
    }
    for v in lines(&docker(&["volume", "ls", "-q", "--filter", &filter])?) {
        docker(&["volume", "rm", "-f", &v])?;
    }
    Ok(())
}
