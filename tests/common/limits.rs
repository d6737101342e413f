//! Running the binary under a time and memory bound that the test itself measures.
//!
//! Memory is the child's peak resident set (`ru_maxrss`) for that one child, so tests running
//! in parallel threads do not see each other's children (`getrusage(RUSAGE_CHILDREN)` would
//! mix them). A child forked straight from this test process would be charged with the
//! parent's resident pages it held before `exec` (Linux keeps the old image's high-water mark
//! across `exec`), so the command runs under `/usr/bin/time`, which forks it from its own small
//! image and writes that child's `ru_maxrss` to a file. Without `/usr/bin/time` the direct
//! `wait4` figure is used, which can only overstate (a bound may then fail, never pass,
//! wrongly). Time is wall-clock from spawn to exit; a run that outlives its bound is killed
//! (its whole process group) and the test fails. An address-space cap well above any bound
//! keeps a runaway child from taking the shared machine down before it is judged. Under
//! `time`, a child killed by a signal shows as exit code 128 + signal.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a bounded run of the binary produced and cost.
#[derive(Debug)]
pub struct Measured {
    /// Exit status (a signal shows as `code() == None`).
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// Peak resident set of the child in KiB.
    pub peak_rss_kib: u64,
    /// Wall time from spawn to exit.
    pub wall: Duration,
}

impl Measured {
    /// Fails the test if the run took more than `max_wall` or more than `max_rss_mib` MiB.
    pub fn assert_within(&self, what: &str, max_rss_mib: u64, max_wall: Duration) -> &Self {
        assert!(
            self.peak_rss_kib <= max_rss_mib * 1024,
            "{what}: peak memory {} MiB > {max_rss_mib} MiB (stderr: {})",
            self.peak_rss_kib / 1024,
            self.stderr_text()
        );
        assert!(
            self.wall <= max_wall,
            "{what}: took {:?} > {max_wall:?} (stderr: {})",
            self.wall,
            self.stderr_text()
        );
        self
    }

    /// stderr as text (lossy), for messages and assertions.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The exit code; fails the test if the child died from a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "killed by signal {:?} (stderr: {})",
                self.status.signal(),
                self.stderr_text()
            )
        })
    }
}

/// GNU time, which reports the peak of a child forked from its own small image.
const GNU_TIME: &str = "/usr/bin/time";

/// 8 GiB of address space: far above any bound a test asserts, far below the machine.
const ADDRESS_SPACE_CAP: libc::rlim_t = 8 << 30;

/// Runs in the child between fork and exec: its own process group (so a timeout kills the
/// whole run, `time` and the binary), and the address-space cap.
fn limit_child() -> std::io::Result<()> {
    let cap = libc::rlimit {
        rlim_cur: ADDRESS_SPACE_CAP,
        rlim_max: ADDRESS_SPACE_CAP,
    };
    // SAFETY: async-signal-safe system calls on valid arguments.
    unsafe {
        if libc::setpgid(0, 0) != 0 || libc::setrlimit(libc::RLIMIT_AS, &cap) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The vmstate-check binary under test.
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmstate-check"));
    cmd.env_remove("NO_COLOR");
    cmd
}

/// Runs `cmd` (stdin from `stdin`, or empty), killing it after `timeout`; returns its output,
/// peak memory and wall time. Panics if the timeout is reached.
pub fn measure(cmd: &mut Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Measured {
    measure_to(cmd, Stdio::piped(), stdin, timeout)
}

/// [`measure`] with stdout sent to `stdout` (e.g. `/dev/full`) instead of captured.
pub fn measure_to(
    cmd: &mut Command,
    stdout: Stdio,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> Measured {
    let time_file = tempfile::NamedTempFile::new().expect("temporary file");
    let timed = Path::new(GNU_TIME).exists();
    let mut wrapped = Command::new(GNU_TIME);
    let run: &mut Command = if timed {
        wrapped
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(time_file.path())
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => wrapped.env(key, v),
                None => wrapped.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        &mut wrapped
    } else {
        cmd
    };
    run.stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped());
    // SAFETY: limit_child makes only async-signal-safe system calls.
    unsafe { run.pre_exec(limit_child) };
    let start = Instant::now();
    let mut child = run.spawn().expect("binary starts");
    let pid = child.id() as libc::pid_t;
    let mut input = child.stdin.take().expect("stdin piped");
    let feeder = std::thread::spawn(move || {
        if let Some(bytes) = stdin {
            // The child may stop reading early (an error); that is its right.
            let _ = input.write_all(&bytes);
        }
    });
    let out = child.stdout.take();
    let mut err = child.stderr.take().expect("stderr piped");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(mut out) = out {
            let _ = out.read_to_end(&mut v);
        }
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut raw_status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        // SAFETY: pid is our own unreaped child; the pointers are valid for the call.
        let r = unsafe { libc::wait4(pid, &mut raw_status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > timeout {
            timed_out = true;
            // SAFETY: kill of our own child's process group (made by limit_child).
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            // SAFETY: as above; blocking wait for the killed child.
            unsafe { libc::wait4(pid, &mut raw_status, 0, &mut usage) };
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = start.elapsed();
    let _ = feeder.join();
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    assert!(
        !timed_out,
        "killed after {timeout:?} (stderr so far: {})",
        String::from_utf8_lossy(&stderr)
    );
    Measured {
        status: ExitStatus::from_raw(raw_status),
        stdout,
        stderr,
        // Linux reports ru_maxrss in KiB.
        peak_rss_kib: if timed {
            // time's file ends with the peak (a "Command exited ..." line may come first).
            std::fs::read_to_string(time_file.path())
                .ok()
                .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
                .unwrap_or(usage.ru_maxrss as u64)
        } else {
            usage.ru_maxrss as u64
        },
        wall,
    }
}
