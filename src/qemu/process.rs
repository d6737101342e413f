//! Starting QEMU processes with deadlines, and ending them by PID.
//!
//! A [`Running`] process is killed (SIGKILL to its PID) and reaped when it is dropped, so an
//! error or an early return never leaves a QEMU behind. SIGINT and SIGTERM only set a flag
//! ([`install_interrupt_flag`]); every wait loop here polls it and returns
//! [`QemuError::Interrupted`], and unwinding the callers' values ends the processes and
//! removes the temporary folder.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::{one_line_stderr, Qemu, QemuError};

/// How often a wait loop looks at the process and the interrupt flag.
pub const POLL: Duration = Duration::from_millis(20);

/// Cap on what is kept of one QEMU output stream (QEMU prints little; a runaway loop must not
/// fill memory).
const OUTPUT_CAP: u64 = 16 << 20;

static INTERRUPTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Makes SIGINT and SIGTERM set the flag that [`interrupted`] reads instead of ending the
/// program at once (idempotent). Call it before starting QEMU processes.
pub fn install_interrupt_flag() {
    let flag = INTERRUPTED.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A handler that cannot be installed leaves the default behaviour (the QEMU children
        // share our process group, so a terminal's Ctrl-C reaches them too).
        let _ = signal_hook::flag::register(signal, Arc::clone(flag));
    }
}

/// Whether SIGINT or SIGTERM arrived since [`install_interrupt_flag`].
pub fn interrupted() -> bool {
    INTERRUPTED
        .get()
        .is_some_and(|flag| flag.load(Ordering::Relaxed))
}

/// Returns [`QemuError::Interrupted`] once a signal arrived.
pub fn check_interrupt() -> Result<(), QemuError> {
    if interrupted() {
        Err(QemuError::Interrupted)
    } else {
        Ok(())
    }
}

/// The result of a short QEMU run.
#[derive(Debug)]
pub struct Output {
    /// How the process ended.
    pub status: ExitStatus,
    /// Standard output (capped).
    pub stdout: Vec<u8>,
    /// Standard error (capped).
    pub stderr: Vec<u8>,
}

/// `exit status 1` / `signal 9`, for messages.
pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// The command line of `qemu` with `extra`, for messages.
pub fn command_line(qemu: &Qemu, extra: &[String]) -> String {
    let mut s = qemu.to_string();
    for a in extra {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Runs `qemu extra...` to completion (in `cwd` if given), collecting its output; kills it
/// after `timeout`. A non-zero exit is not an error here (the caller decides).
pub fn run(
    qemu: &Qemu,
    extra: &[String],
    cwd: Option<&Path>,
    timeout: Duration,
) -> Result<Output, QemuError> {
    qemu.resolve()?;
    let line = command_line(qemu, extra);
    let mut cmd = qemu.command(extra);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|source| QemuError::Spawn {
        command: line.clone(),
        source,
    })?;
    // Read both pipes on their own threads so that a chatty QEMU never blocks on a full pipe.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let mut guard = Running::from_child(child, line.clone());
    let status = guard.wait_until(Instant::now() + timeout);
    let status = match status {
        Ok(Some(status)) => status,
        Ok(None) => {
            guard.kill();
            return Err(QemuError::Timeout {
                command: line,
                after: timeout,
            });
        }
        Err(e) => return Err(e),
    };
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    })
}

/// Like [`run`], but a non-zero exit is [`QemuError::Refused`] with QEMU's stderr.
pub fn run_ok(
    qemu: &Qemu,
    extra: &[String],
    cwd: Option<&Path>,
    timeout: Duration,
) -> Result<Output, QemuError> {
    let out = run(qemu, extra, cwd, timeout)?;
    if !out.status.success() {
        return Err(QemuError::Refused {
            command: command_line(qemu, extra),
            status: describe_status(out.status),
            stderr: one_line_stderr(&out.stderr),
        });
    }
    Ok(out)
}

fn drain<R: Read + Send + 'static>(pipe: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut limited = pipe.take(OUTPUT_CAP);
        let _ = limited.read_to_end(&mut buf);
        // Keep reading past the cap so the child never blocks on a full pipe.
        let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        buf
    })
}

/// A QEMU process that runs while we talk to it; killed by PID and reaped on drop.
#[derive(Debug)]
pub struct Running {
    child: Child,
    /// The command line, for messages.
    pub command: String,
    /// Set once the process has been reaped.
    status: Option<ExitStatus>,
}

impl Running {
    /// Starts `qemu extra...` in `cwd` with standard output and error going to `log` (a file,
    /// so that nothing blocks on a pipe nobody reads).
    pub fn spawn(qemu: &Qemu, extra: &[String], cwd: &Path, log: &Path) -> Result<Self, QemuError> {
        qemu.resolve()?;
        let line = command_line(qemu, extra);
        let io_err = |source| QemuError::Io {
            path: log.to_path_buf(),
            source,
        };
        let out = File::create(log).map_err(io_err)?;
        let err = out.try_clone().map_err(io_err)?;
        let child = qemu
            .command(extra)
            .current_dir(cwd)
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| QemuError::Spawn {
                command: line.clone(),
                source,
            })?;
        Ok(Self::from_child(child, line))
    }

    fn from_child(child: Child, command: String) -> Self {
        Running {
            child,
            command,
            status: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended (reaps it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits until the process ends or `deadline` passes (`Ok(None)`); a signal to us ends
    /// the wait with [`QemuError::Interrupted`].
    pub fn wait_until(&mut self, deadline: Instant) -> Result<Option<ExitStatus>, QemuError> {
        loop {
            if let Some(status) = self.try_wait() {
                return Ok(Some(status));
            }
            check_interrupt()?;
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Kills the process by PID (SIGKILL) unless it has ended, and reaps it.
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Waits up to `grace` for the process to end by itself (after `quit`), then kills it.
    pub fn finish(&mut self, grace: Duration) -> Option<ExitStatus> {
        let _ = self.wait_until(Instant::now() + grace);
        self.kill();
        self.status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_past_its_deadline_is_killed() {
        let q = Qemu::new("/bin/sleep");
        let started = Instant::now();
        let err = run(&q, &["30".to_owned()], None, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, QemuError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_and_status_are_collected() {
        let q = Qemu {
            program: "/bin/sh".into(),
            args: vec!["-c".into()],
            env: vec![("VMSC_T".into(), "x".into())],
        };
        let out = run(
            &q,
            &["echo out; echo err$VMSC_T >&2; exit 3".to_owned()],
            None,
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"errx\n");
        assert_eq!(out.status.code(), Some(3));
        let err = run_ok(
            &q,
            &["echo bad >&2; exit 1".to_owned()],
            None,
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`VMSC_T=x /bin/sh -c echo bad >&2; exit 1` failed (exit status 1): bad"
        );
    }

    #[test]
    fn dropping_a_running_process_kills_it() {
        let dir = tempfile::tempdir().unwrap();
        let q = Qemu::new("/bin/sleep");
        let p =
            Running::spawn(&q, &["30".to_owned()], dir.path(), &dir.path().join("log")).unwrap();
        let pid = p.pid();
        drop(p);
        // The PID is reaped: /proc no longer lists it as our child.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty() || !stat.contains("(sleep) S"), "{stat}");
    }
}
