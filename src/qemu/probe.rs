//! `probe`: migrate a guest with a given device set from QEMU A into QEMU B for real, and
//! compare the checker's prediction with what B did.
//!
//! 1. A starts paused (`-S -nodefaults -display none`), with a byte-pattern `-bios` where the
//!    machine needs firmware (never executed while the guest stays paused, and the same bytes
//!    on both sides, so the ROM blocks have equal sizes), and migrates over QMP to a file
//!    (`migrate` with `exec:cat > FILE`, as migration/exec.c runs it through `/bin/sh`;
//!    QEMU's working folder is the probe's temporary folder, so the URI holds no path).
//! 2. The stream is decoded and checked against B's dump (`analyze --against`).
//! 3. B starts with `-incoming defer` and loads the file (`migrate-incoming` with
//!    `exec:cat FILE`). Success = B leaves the `inmigrate` run state (migration/migration.c
//!    `process_incoming_migration_bh`: `paused` with `-S`). Failure = B exits with an error
//!    (7.2) or the incoming migration's status becomes `failed` while B stays in `inmigrate`
//!    (10.0 with `-incoming defer` no longer exits after a failed load), so both are polled.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use super::process::{check_interrupt, Running};
use super::qmp::{Qmp, QmpError};
use super::{Qemu, QemuError};
use crate::check::Diagnostic;
use crate::report::Mode;

/// Firmware given to both QEMUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bios {
    /// A 256 KiB byte pattern for x86 PC machines, nothing for others.
    Auto,
    /// Always the byte pattern.
    Pattern,
    /// No `-bios` (the binary's default firmware).
    Default,
    /// This file.
    File(PathBuf),
}

/// What to probe.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// The source QEMU (A).
    pub src: Qemu,
    /// The destination QEMU (B).
    pub dest: Qemu,
    /// The machine type.
    pub machine: String,
    /// Device arguments given to both (`-device ...`, `-netdev ...`).
    pub devices: Vec<String>,
    /// Let A run this long before migrating (0 = stay paused).
    pub boot: Duration,
    /// Firmware choice.
    pub bios: Bios,
    /// Guest RAM in MiB.
    pub memory_mb: u32,
    /// Deadline of each step (start, save, load).
    pub timeout: Duration,
    /// B's `-dump-vmstate` for the machine.
    pub dest_dump: PathBuf,
    /// Copy the streams and QEMU logs into this folder before the temporary one is removed.
    pub keep: Option<PathBuf>,
}

/// How a load ended, or is predicted to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// B accepts the stream.
    Loads,
    /// Predicted only: B accepts the stream without an error, but state lands in the wrong
    /// fields (every counted finding is a `field_shift`); a real load cannot show this, so it
    /// agrees with a real load that succeeds.
    Misreads,
    /// B refuses the stream.
    Fails,
}

impl Outcome {
    /// Whether B accepts the stream (with or without misreading it).
    pub fn loads(self) -> bool {
        matches!(self, Outcome::Loads | Outcome::Misreads)
    }
}

/// The checker's prediction.
#[derive(Debug, Serialize)]
pub struct Prediction {
    /// Loads or fails.
    pub outcome: Outcome,
    /// Counted problems.
    pub problems: usize,
    /// Sections of the stream checked against B's descriptions.
    pub checked: usize,
    /// What B was described by: `dump` (its `-dump-vmstate`) and `stream` (a stream B wrote
    /// for the same machine and devices).
    pub against: Vec<String>,
    /// Why B could not write its own stream (then only its dump was used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_stream_error: Option<String>,
    /// Every finding (counted or not).
    #[serde(skip)]
    pub diagnostics: Vec<Diagnostic>,
}

/// What B really did.
#[derive(Debug, Serialize)]
pub struct RealLoad {
    /// Loaded or failed.
    pub outcome: Outcome,
    /// B's run state after a successful load (`paused`, `postmigrate`, `running`), or the
    /// incoming migration status when it failed.
    pub status: Option<String>,
    /// B's stderr lines (joined by ` | `) plus QMP's error description, if any.
    pub message: String,
}

/// The probe's result.
#[derive(Debug)]
pub struct ProbeReport {
    /// Bytes of the stream A wrote.
    pub stream_bytes: u64,
    /// The prediction.
    pub predicted: Prediction,
    /// The real load.
    pub real: RealLoad,
}

impl ProbeReport {
    /// Whether prediction and real load agree (a predicted misread agrees with a load that
    /// succeeds: the real load cannot see which field got which bytes).
    pub fn agree(&self) -> bool {
        self.predicted.outcome.loads() == self.real.outcome.loads()
    }
}

/// Why a probe could not be carried out (a stream that cannot be decoded is one of them).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Driving QEMU failed.
    #[error(transparent)]
    Qemu(#[from] QemuError),
    /// B's dump is unusable.
    #[error(transparent)]
    Input(#[from] crate::error::InputError),
    /// A's stream could not be decoded.
    #[error("{file}: {message}")]
    Stream {
        /// The stream file.
        file: String,
        /// The decoder's error.
        message: String,
    },
}

/// The pattern firmware (byte i = (i*7+3) & 0xff), as the fixtures' `streams/bios.bin`.
pub fn pattern_bios() -> Vec<u8> {
    (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(7).wrapping_add(3) & 0xff) as u8)
        .collect()
}

/// Whether `machine` of `qemu` needs firmware that a pattern can stand in for: the x86 PC
/// machines (hw/i386/pc_sysfw.c loads `bios.bin` and fails without it).
fn wants_pattern(qemu: &Qemu, machine: &str) -> bool {
    let name = qemu
        .program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (name.ends_with("x86_64") || name.ends_with("i386"))
        && (machine.starts_with("pc") || machine.starts_with("q35") || machine == "isapc")
}

/// Runs the probe in a fresh temporary folder (removed at the end, also on errors).
pub fn probe(cfg: &ProbeConfig) -> Result<ProbeReport, ProbeError> {
    let tmp = tempfile::Builder::new()
        .prefix("vmstate-check-probe-")
        .tempdir()
        .map_err(|source| QemuError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let dir = tmp.path();
    let mut common: Vec<String> = vec![
        "-nodefaults".into(),
        "-display".into(),
        "none".into(),
        "-m".into(),
        cfg.memory_mb.to_string(),
        "-M".into(),
        cfg.machine.clone(),
    ];
    let bios = match &cfg.bios {
        Bios::File(p) => Some(p.clone()),
        Bios::Pattern => Some(write_pattern(dir)?),
        Bios::Auto if cfg.boot.is_zero() && wants_pattern(&cfg.src, &cfg.machine) => {
            Some(write_pattern(dir)?)
        }
        Bios::Auto | Bios::Default => None,
    };
    if let Some(b) = bios {
        common.push("-bios".into());
        common.push(b.display().to_string());
    }
    common.extend(cfg.devices.iter().cloned());

    let stream = save(&cfg.src, &common, dir, "src", cfg.boot, cfg.timeout)?;
    let stream_bytes = std::fs::metadata(dir.join(&stream)).map_or(0, |m| m.len());
    // B's own stream of the same guest: the most complete description of what B reads
    // (every section, the versions it writes, its RAM blocks).
    let (own, own_error) = match save(
        &cfg.dest,
        &common,
        dir,
        "dest-own",
        Duration::ZERO,
        cfg.timeout,
    ) {
        Ok(f) => (Some(dir.join(f)), None),
        Err(QemuError::Interrupted) => return Err(QemuError::Interrupted.into()),
        Err(e) => (None, Some(e.to_string())),
    };
    let mut predicted = predict(&dir.join(&stream), &cfg.dest_dump, own.as_deref())?;
    if own_error.is_some() {
        predicted.dest_stream_error = own_error;
    }
    let real = load(&cfg.dest, &common, dir, &stream, cfg.timeout)?;
    if let Some(keep) = &cfg.keep {
        keep_files(dir, keep)?;
    }
    Ok(ProbeReport {
        stream_bytes,
        predicted,
        real,
    })
}

/// The files `--keep` copies.
pub const KEPT: [&str; 5] = [
    "src.mig",
    "dest-own.mig",
    "src.log",
    "dest-own.log",
    "dest.log",
];

/// Copies what a probe wrote (`src.mig`, `dest-own.mig`, the QEMU logs) into `keep`, never
/// replacing a file there.
fn keep_files(dir: &Path, keep: &Path) -> Result<(), QemuError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| QemuError::Io { path, source }
    };
    std::fs::create_dir_all(keep).map_err(io(keep))?;
    for name in [
        "src.mig",
        "dest-own.mig",
        "src.log",
        "dest-own.log",
        "dest.log",
    ] {
        let from = dir.join(name);
        if !from.exists() {
            continue;
        }
        let to = keep.join(name);
        let mut out = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&to)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(QemuError::Exists { path: to })
            }
            Err(e) => return Err(io(&to)(e)),
        };
        let mut input = std::fs::File::open(&from).map_err(io(&from))?;
        std::io::copy(&mut input, &mut out).map_err(io(&to))?;
    }
    Ok(())
}

fn write_pattern(dir: &Path) -> Result<PathBuf, QemuError> {
    let path = dir.join("bios-pattern.bin");
    std::fs::write(&path, pattern_bios()).map_err(|source| QemuError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn qmp_err(who: &str, source: QmpError) -> QemuError {
    match source {
        QmpError::Interrupted => QemuError::Interrupted,
        source => QemuError::Qmp {
            qemu: who.to_owned(),
            source,
        },
    }
}

/// QEMU's log file as one line, without the GUI-module warnings a headless host prints.
fn log_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("module ui-"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Starts `qemu` with a QMP socket in `dir`; waits until QMP answers. A QEMU that exits first
/// is [`QemuError::Refused`] with its stderr.
fn start(
    qemu: &Qemu,
    args: Vec<String>,
    dir: &Path,
    role: &str,
    timeout: Duration,
) -> Result<(Running, Qmp), QemuError> {
    let sock = format!("{role}.qmp");
    let mut full = args;
    full.push("-qmp".into());
    full.push(format!("unix:{sock},server=on,wait=off"));
    let log = dir.join(format!("{role}.log"));
    let mut proc = Running::spawn(qemu, &full, dir, &log)?;
    let who = format!("{role} {qemu}");
    let command = proc.command.clone();
    let qmp = {
        let mut alive = || match proc.try_wait() {
            Some(status) => Err(QemuError::Refused {
                command: command.clone(),
                status: super::process::describe_status(status),
                stderr: log_text(&log),
            }),
            None => Ok(()),
        };
        Qmp::connect(&dir.join(&sock), Instant::now() + timeout, &mut alive, &who)
    };
    match qmp {
        Ok(q) => Ok((proc, q)),
        Err(QemuError::Qmp {
            source: QmpError::Closed,
            ..
        }) if proc.finish(Duration::from_secs(2)).is_some() => Err(QemuError::Refused {
            command,
            status: proc
                .try_wait()
                .map_or("ended".into(), super::process::describe_status),
            stderr: log_text(&log),
        }),
        Err(e) => Err(e),
    }
}

/// Saves the state of a paused (or, with `boot`, briefly running) guest to `ROLE.mig`.
fn save(
    qemu: &Qemu,
    common: &[String],
    dir: &Path,
    role: &str,
    boot: Duration,
    timeout: Duration,
) -> Result<String, QemuError> {
    let mut args = common.to_vec();
    args.insert(0, "-S".into());
    let (mut proc, mut qmp) = start(qemu, args, dir, role, timeout)?;
    let who = format!("{role} {qemu}");
    let step = Duration::from_secs(10).min(timeout);
    if !boot.is_zero() {
        qmp.execute("cont", None, step)
            .map_err(|e| qmp_err(&who, e))?;
        let until = Instant::now() + boot;
        while Instant::now() < until {
            check_interrupt()?;
            std::thread::sleep(super::process::POLL);
        }
    }
    let file = format!("{role}.mig");
    qmp.execute(
        "migrate",
        Some(&json!({"uri": format!("exec:cat > {file}")})),
        step,
    )
    .map_err(|e| qmp_err(&who, e))?;
    let deadline = Instant::now() + timeout;
    loop {
        check_interrupt()?;
        let info = qmp
            .execute("query-migrate", None, step)
            .map_err(|e| qmp_err(&who, e))?;
        match info.get("status").and_then(Value::as_str) {
            Some("completed") => break,
            Some(s @ ("failed" | "cancelled")) => {
                let desc = info.get("error-desc").and_then(Value::as_str).unwrap_or("");
                let _ = qmp.execute("quit", None, step);
                proc.finish(Duration::from_secs(5));
                return Err(QemuError::Refused {
                    command: format!("{who}: migrate"),
                    status: format!("migration {s}"),
                    stderr: [desc.to_owned(), log_text(&dir.join(format!("{role}.log")))]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" | "),
                });
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(QemuError::Timeout {
                command: format!("{who}: migrate"),
                after: timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = qmp.execute("quit", None, step);
    drop(qmp);
    proc.finish(Duration::from_secs(5));
    Ok(file)
}

/// Decodes a stream file as `analyze --against` does (leniently, with its typed vmdesc).
fn decode_file(path: &Path) -> Result<crate::cli::against::Decoded, ProbeError> {
    let stream_err = |message: String| ProbeError::Stream {
        file: path.display().to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| stream_err(e.to_string()))?;
    let input =
        crate::stream::input::Input::from_file(file).map_err(|e| stream_err(e.to_string()))?;
    let (decoded, r) = crate::cli::against::decode(input);
    r.map_err(|e| stream_err(e.to_string()))?;
    Ok(decoded)
}

/// The checker's verdict on `stream` against B's dump and, when B could write one, B's own
/// stream of the same guest: `analyze STREAM --against B.json --against B.mig`.
fn predict(
    stream: &Path,
    dest_dump: &Path,
    dest_stream: Option<&Path>,
) -> Result<Prediction, ProbeError> {
    use crate::check::stream::{check, Dest};
    // As `analyze --against` (src/cli/against.rs): a dump the layout model cannot use is an input error.
    let dump =
        crate::dump::load_dump(dest_dump).and_then(|d| d.validate_for_layout().map(|()| d))?;
    let src = decode_file(stream)?;
    // B's own stream only adds knowledge: one that cannot be decoded leaves the dump.
    let mut own_error = None;
    let own = match dest_stream.map(decode_file).transpose() {
        Ok(own) => own,
        Err(e) => {
            own_error = Some(format!("cannot decode it: {e}"));
            None
        }
    };
    let mut dests = vec![Dest::Dump(&dump)];
    let mut against = vec!["dump".to_owned()];
    if let Some(own) = &own {
        dests.push(Dest::Stream(own.view()));
        against.push("stream".to_owned());
    }
    let report = check(&src.view(), &dests, &crate::rename::RenameTable::builtin());
    let counted: Vec<&Diagnostic> = report
        .diagnostics
        .iter()
        .filter(|d| Mode::Precise.counts(d))
        .collect();
    let problems = counted.len();
    let misread_only = counted
        .iter()
        .all(|d| matches!(d.finding, crate::check::Finding::FieldShift { .. }));
    Ok(Prediction {
        outcome: match (problems, misread_only) {
            (0, _) => Outcome::Loads,
            (_, true) => Outcome::Misreads,
            (_, false) => Outcome::Fails,
        },
        problems,
        checked: report.checked,
        against,
        dest_stream_error: own_error,
        diagnostics: report.diagnostics,
    })
}

/// Loads `stream` into `qemu` (`-incoming defer` + `migrate-incoming`) and reports what
/// happened. A QEMU that refuses to start with these arguments is a failed load too.
fn load(
    qemu: &Qemu,
    common: &[String],
    dir: &Path,
    stream: &str,
    timeout: Duration,
) -> Result<RealLoad, QemuError> {
    let role = "dest";
    let log = dir.join(format!("{role}.log"));
    let mut args = vec!["-S".to_owned(), "-incoming".to_owned(), "defer".to_owned()];
    args.extend(common.iter().cloned());
    let fail = |status: Option<String>, extra: &str| {
        let message = [log_text(&log), extra.to_owned()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" | ");
        RealLoad {
            outcome: Outcome::Fails,
            status,
            message,
        }
    };
    let (mut proc, mut qmp) = match start(qemu, args, dir, role, timeout) {
        Ok(p) => p,
        Err(QemuError::Refused { status, .. }) => {
            check_interrupt()?;
            return Ok(fail(Some(status), ""));
        }
        Err(e) => return Err(e),
    };
    let who = format!("{role} {qemu}");
    let step = Duration::from_secs(10).min(timeout);
    if let Err(e) = qmp.execute(
        "migrate-incoming",
        Some(&json!({"uri": format!("exec:cat {stream}")})),
        step,
    ) {
        return match e {
            QmpError::Command { desc, .. } => {
                let _ = qmp.execute("quit", None, step);
                proc.finish(Duration::from_secs(5));
                Ok(fail(None, &desc))
            }
            QmpError::Closed => {
                proc.finish(Duration::from_secs(5));
                Ok(fail(
                    proc.try_wait().map(super::process::describe_status),
                    "",
                ))
            }
            e => Err(qmp_err(&who, e)),
        };
    }
    let deadline = Instant::now() + timeout;
    // (loaded, run state or migration status, QMP's error description)
    let (loaded, status, desc) = loop {
        check_interrupt()?;
        if let Some(status) = proc.try_wait() {
            break (
                false,
                Some(super::process::describe_status(status)),
                String::new(),
            );
        }
        if Instant::now() >= deadline {
            return Err(QemuError::Timeout {
                command: format!("{who}: migrate-incoming"),
                after: timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
        let migrate = match qmp.execute("query-migrate", None, step) {
            Ok(v) => v,
            Err(QmpError::Closed) => continue,
            Err(e) => return Err(qmp_err(&who, e)),
        };
        if migrate.get("status").and_then(Value::as_str) == Some("failed") {
            let desc = migrate
                .get("error-desc")
                .and_then(Value::as_str)
                .unwrap_or("");
            break (false, Some("failed".into()), desc.to_owned());
        }
        let status = match qmp.execute("query-status", None, step) {
            Ok(v) => v,
            Err(QmpError::Closed) => continue,
            Err(e) => return Err(qmp_err(&who, e)),
        };
        match status.get("status").and_then(Value::as_str) {
            Some("inmigrate") | None => {}
            Some(s) => break (true, Some(s.to_owned()), String::new()),
        }
    };
    let _ = qmp.execute("quit", None, step);
    drop(qmp);
    proc.finish(Duration::from_secs(5));
    check_interrupt()?;
    // The log is complete once the process has ended.
    Ok(if loaded {
        RealLoad {
            outcome: Outcome::Loads,
            status,
            message: log_text(&log),
        }
    } else {
        fail(status, &desc)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_the_fixtures_bios() {
        let p = pattern_bios();
        assert_eq!(p.len(), 262_144);
        assert_eq!(&p[..4], &[3, 10, 17, 24]);
        assert_eq!(p[37], ((37 * 7 + 3) & 0xff) as u8);
    }

    #[test]
    fn firmware_pattern_only_for_pc_machines_of_x86() {
        let x86 = Qemu::new("/usr/bin/qemu-system-x86_64");
        assert!(wants_pattern(&x86, "pc-q35-7.2"));
        assert!(wants_pattern(&x86, "pc-i440fx-7.2"));
        assert!(!wants_pattern(&x86, "microvm"));
        assert!(!wants_pattern(
            &Qemu::new("qemu-system-aarch64"),
            "virt-7.2"
        ));
    }
}
