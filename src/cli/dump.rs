//! Glue of `vmstate-check dump`: dump machine types of one QEMU binary into a folder
//! ([`crate::qemu::dump`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::Error;
use crate::exit;
use crate::qemu::dump::{
    default_jobs, dump_file_name, dump_machines, list_machines, query_version, write_manifest,
    FailedMachine, Manifest, QemuRecord, MANIFEST,
};
use crate::qemu::{Qemu, QemuError};

/// How to run one QEMU binary: shared by the subcommands that drive QEMU.
#[derive(Debug, Args)]
pub struct QemuArgs {
    /// The QEMU binary (a path, or a name looked up in PATH).
    #[arg(long = "qemu", value_name = "BIN")]
    pub program: PathBuf,
    /// An argument put before every other one (repeat for more), e.g. `--qemu-arg -L
    /// --qemu-arg /opt/qemu72/usr/share/qemu` for an unpacked build.
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// An environment variable for QEMU, e.g. `QEMU_MODULE_DIR=/opt/qemu72/usr/lib/x86_64-linux-gnu/qemu`
    /// (without it an unpacked build loads the system's modules, or none, and silently loses
    /// their devices).
    #[arg(long = "qemu-env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
}

/// Builds a [`Qemu`] from a program, its arguments and `NAME=VALUE` assignments; a bad
/// assignment is a usage error.
pub fn make_qemu(
    program: &std::path::Path,
    args: &[String],
    env: &[String],
    option: &str,
) -> Result<Qemu, Error> {
    let env = Qemu::parse_env(env).map_err(|e| Error::BadArguments(format!("{option}: {e}")))?;
    Ok(Qemu {
        program: program.to_path_buf(),
        args: args.to_vec(),
        env,
    })
}

/// Arguments of `vmstate-check dump`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["machines", "all_machines"])))]
pub struct DumpArgs {
    /// The binary to dump.
    #[command(flatten)]
    pub qemu: QemuArgs,
    /// A machine type to dump (repeat for more).
    #[arg(short = 'M', long = "machine", value_name = "MACHINE")]
    pub machines: Vec<String>,
    /// Dump every machine type of `-M help` except aliases (`pc`, `q35`, `virt` ... name
    /// other machines in other versions) and `none`.
    #[arg(long)]
    pub all_machines: bool,
    /// Folder for MACHINE.json files and manifest.json (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// Replace files that exist already.
    #[arg(long)]
    pub force: bool,
    /// QEMU processes at a time (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Seconds each QEMU run may take before it is killed.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
}

/// Runs `dump`; returns the exit code, or the error for `main` to print.
pub fn run(args: &DumpArgs) -> Result<u8, Error> {
    crate::qemu::process::install_interrupt_flag();
    let qemu = make_qemu(
        &args.qemu.program,
        &args.qemu.args,
        &args.qemu.env,
        "--qemu-env",
    )?;
    dump(args, &qemu).map_err(|e| {
        let code = e.exit_code();
        Error::in_command("dump", e, code)
    })
}

fn dump(args: &DumpArgs, qemu: &Qemu) -> Result<u8, QemuError> {
    let timeout = Duration::from_secs(args.timeout.max(1));
    let version = query_version(qemu, timeout)?;
    let listed = list_machines(qemu, timeout)?;
    let machines: Vec<String> = if args.all_machines {
        listed
            .iter()
            .filter(|m| m.is_dumpable())
            .map(|m| m.name.clone())
            .collect()
    } else {
        for m in &args.machines {
            match listed.iter().find(|l| &l.name == m) {
                None => {
                    return Err(QemuError::Output {
                        command: format!("{qemu} -M help"),
                        detail: format!("no machine type \"{m}\""),
                    })
                }
                Some(l) if l.alias_of.is_some() => eprintln!(
                    "vmstate-check dump: warning: {m} is an alias of {} in this binary; the dump is named {m}.json",
                    l.alias_of.as_deref().unwrap_or("")
                ),
                Some(_) => {}
            }
        }
        args.machines.clone()
    };
    let dir = &args.output;
    std::fs::create_dir_all(dir).map_err(|source| QemuError::Io {
        path: dir.clone(),
        source,
    })?;
    // Refuse before running anything, so that no half of the folder is replaced.
    if !args.force {
        for name in machines
            .iter()
            .map(|m| dump_file_name(m))
            .chain([MANIFEST.to_owned()])
        {
            let path = dir.join(name);
            if path.exists() {
                return Err(QemuError::Exists { path });
            }
        }
    }
    let record = QemuRecord::of(qemu, &version)?;
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let results = dump_machines(qemu, &machines, dir, jobs, args.force, timeout);
    let mut manifest = Manifest {
        qemu: record,
        machines: Vec::new(),
        failed: Vec::new(),
    };
    let mut module_lines: Vec<String> = Vec::new();
    for (machine, r) in results {
        match r {
            Ok(d) => {
                for l in &d.module_errors {
                    if !module_lines.contains(l) {
                        module_lines.push(l.clone());
                    }
                }
                manifest.machines.push(d);
            }
            Err(QemuError::Interrupted) => return Err(QemuError::Interrupted),
            Err(e) => {
                eprintln!("vmstate-check dump: error: {machine}: {e}");
                manifest.failed.push(FailedMachine {
                    machine,
                    error: e.to_string(),
                });
            }
        }
    }
    for l in &module_lines {
        eprintln!("vmstate-check dump: warning: a QEMU module failed to load, its devices are missing from the dumps: {l}");
    }
    write_manifest(dir, &manifest, args.force)?;
    println!(
        "{}: {} machine types dumped into {} ({}){}",
        manifest.qemu.version_line,
        manifest.machines.len(),
        dir.display(),
        MANIFEST,
        if manifest.failed.is_empty() {
            String::new()
        } else {
            format!(", {} failed", manifest.failed.len())
        }
    );
    Ok(if manifest.failed.is_empty() {
        exit::OK
    } else {
        exit::QEMU_ERROR
    })
}
