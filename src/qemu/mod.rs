//! Driving real QEMU binaries: `-M help` and `--version` parsing, `-dump-vmstate` runs for
//! many machine types, a QMP client, and the probe that migrates a paused guest from one
//! binary into another.
//!
//! What QEMU does that this module relies on:
//! * `-M help` lists `NAME  DESCRIPTION` lines; an alias is shown as `(alias of TARGET)`
//!   (hw/core/machine-qmp-cmds.c / system/vl.c `machine_help_func`).
//! * `-dump-vmstate FILE` writes every device class vmsd and exits (migration/savevm.c
//!   `dump_vmstate_json_to_file`); before that `module_load_qom_all()` (util/module.c) loads
//!   every QOM module and reports a module that cannot be opened with `error_report`
//!   ("failed to open module: ..."): such a module's device classes are then absent from the
//!   dump, which is the only trace besides that stderr line.
//! * QMP (docs/interop/qmp-spec.rst): a greeting, `qmp_capabilities`, then one JSON object
//!   per command, answered by `return` or `error`, with asynchronous `event` objects between.
//!
//! Every QEMU process started here is ended by its PID ([`process::Running`] kills it on drop)
//! and every wait has a deadline.

pub mod cache;
pub mod compare;
pub mod dump;
pub mod machines;
pub mod probe;
pub mod process;
pub mod qmp;
pub mod version;

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde::Serialize;

/// How to run one QEMU binary: the program, arguments that go before every other argument
/// (`-L DATADIR` for an unpacked 7.2), and environment variables (`QEMU_MODULE_DIR=...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Qemu {
    /// The program as given (a path, or a name looked up in `PATH`).
    pub program: PathBuf,
    /// Arguments placed before the ones vmstate-check adds.
    pub args: Vec<String>,
    /// Extra environment variables, in the order given.
    pub env: Vec<(String, String)>,
}

impl Qemu {
    /// A QEMU run as `program`, without extra arguments or environment.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Qemu {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Parses `K=V` environment assignments (as given to `--qemu-env`).
    pub fn parse_env(assignments: &[String]) -> Result<Vec<(String, String)>, String> {
        assignments
            .iter()
            .map(|a| match a.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(format!("`{a}` is not of the form NAME=VALUE")),
            })
            .collect()
    }

    /// A [`Command`] for this QEMU with `extra` after the fixed arguments; standard input is
    /// closed (QEMU must never wait for a terminal).
    pub fn command<I, S>(&self, extra: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).args(extra);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    /// The binary this QEMU runs: `program` itself when it contains a `/`, else the first
    /// executable of that name in `PATH`.
    pub fn resolve(&self) -> Result<PathBuf, QemuError> {
        let program = &self.program;
        if program.components().count() > 1 || program.is_absolute() {
            return check_executable(program).map(|()| program.clone());
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(program);
            if candidate.is_file() && check_executable(&candidate).is_ok() {
                return Ok(candidate);
            }
        }
        Err(QemuError::NotFound {
            program: program.clone(),
        })
    }

    /// What identifies this binary's dumps: resolved path, size and modification time, plus
    /// the arguments and environment (they change what a dump contains).
    pub fn identity(&self) -> Result<Identity, QemuError> {
        let path = self.resolve()?;
        let path = path.canonicalize().unwrap_or(path);
        let meta = std::fs::metadata(&path).map_err(|source| QemuError::Io {
            path: path.clone(),
            source,
        })?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(Identity {
            path,
            size: meta.len(),
            mtime_ns,
        })
    }
}

impl fmt::Display for Qemu {
    /// The command as a user would type it: `K=V ... PROGRAM ARGS...` (for messages only).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.env {
            write!(f, "{k}={v} ")?;
        }
        write!(f, "{}", self.program.display())?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// The file behind a [`Qemu`], as far as caching needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Canonical path of the binary.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 if unknown).
    pub mtime_ns: u64,
}

fn check_executable(path: &Path) -> Result<(), QemuError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(QemuError::NotFound {
            program: path.to_path_buf(),
        }),
        Err(source) => Err(QemuError::Io {
            path: path.to_path_buf(),
            source,
        }),
        Ok(meta) if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 => {
            Err(QemuError::NotExecutable {
                path: path.to_path_buf(),
            })
        }
        Ok(_) => Ok(()),
    }
}

/// Something went wrong while driving QEMU. Displayed as one line.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    /// The program does not exist (or is not in `PATH`).
    #[error("QEMU binary {} not found", .program.display())]
    NotFound {
        /// The program as given.
        program: PathBuf,
    },
    /// The program exists but is not an executable file.
    #[error("QEMU binary {} is not an executable file", .path.display())]
    NotExecutable {
        /// The file.
        path: PathBuf,
    },
    /// The process could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// QEMU ran but exited with an error.
    #[error("`{command}` failed ({status}){}", stderr_suffix(.stderr))]
    Refused {
        /// The command line.
        command: String,
        /// How it ended (`exit status 1`, `signal 9`).
        status: String,
        /// QEMU's standard error, lines joined by ` | `.
        stderr: String,
    },
    /// QEMU did not finish in time and was killed.
    #[error("`{command}` did not finish within {} s; killed", .after.as_secs_f64())]
    Timeout {
        /// The command line or the step that was waited for.
        command: String,
        /// How long it was given.
        after: Duration,
    },
    /// QEMU's output was not what this version of vmstate-check understands.
    #[error("`{command}`: unexpected output: {detail}")]
    Output {
        /// The command line.
        command: String,
        /// What was wrong.
        detail: String,
    },
    /// A QMP exchange failed.
    #[error("{qemu}: QMP: {source}")]
    Qmp {
        /// Which QEMU (role and command).
        qemu: String,
        /// What failed.
        source: qmp::QmpError,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file that would be written exists already (and `--force` was not given).
    #[error("{}: exists; not overwritten (use --force)", .path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// SIGINT or SIGTERM arrived; the QEMU processes were ended.
    #[error("interrupted; QEMU processes ended")]
    Interrupted,
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

impl QemuError {
    /// The documented exit code for this error (see [`crate::exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            QemuError::Exists { .. } | QemuError::Io { .. } => crate::exit::OUTPUT_ERROR,
            QemuError::Interrupted => crate::exit::INTERRUPTED,
            _ => crate::exit::QEMU_ERROR,
        }
    }
}

/// QEMU's standard error as one line: non-empty lines trimmed and joined by ` | `.
pub fn one_line_stderr(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The lines of QEMU's standard error that say a module could not be loaded (`failed to open
/// module: ...`, `Failed to open module`, `failed to load module`, `module ... not found`):
/// the device classes of such a module are silently missing from a dump.
pub fn module_errors(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|line| {
            let l = line.to_ascii_lowercase();
            l.contains("module")
                && (l.contains("fail") || l.contains("not found") || l.contains("cannot"))
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_error_lines_are_found_in_both_spellings() {
        let stderr = "qemu-system-x86_64: failed to open module: /x/hw-display-qxl.so: cannot read file data\n\
                      qemu-system-x86_64: Failed to open module: libfoo.so: cannot open shared object file\n\
                      qemu-system-x86_64: warning: something else\n";
        let found = module_errors(stderr);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("hw-display-qxl"));
    }

    #[test]
    fn env_assignments_need_a_name() {
        assert_eq!(
            Qemu::parse_env(&["A=b=c".into()]).unwrap(),
            vec![("A".to_owned(), "b=c".to_owned())]
        );
        assert!(Qemu::parse_env(&["=x".into()]).is_err());
        assert!(Qemu::parse_env(&["novalue".into()]).is_err());
    }

    #[test]
    fn a_missing_program_is_named() {
        let q = Qemu::new("/nonexistent/qemu-system-x86_64");
        let err = q.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            "QEMU binary /nonexistent/qemu-system-x86_64 not found"
        );
        let q = Qemu::new("no-such-qemu-binary-anywhere");
        assert!(matches!(q.resolve(), Err(QemuError::NotFound { .. })));
    }

    #[test]
    fn display_shows_env_program_and_args() {
        let q = Qemu {
            program: "/opt/q/qemu".into(),
            args: vec!["-L".into(), "/opt/q/share".into()],
            env: vec![("QEMU_MODULE_DIR".into(), "/opt/q/lib".into())],
        };
        assert_eq!(
            q.to_string(),
            "QEMU_MODULE_DIR=/opt/q/lib /opt/q/qemu -L /opt/q/share"
        );
    }
}
