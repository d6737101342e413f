//! Glue of `vmstate-check probe`: one real migration from `--src-qemu` into `--dest-qemu`
//! ([`crate::qemu::probe`]), reported next to the checker's prediction.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::Error;
use owo_colors::OwoColorize;
use serde_json::{json, Value};

use super::compare_qemu::cache_root;
use super::dump::make_qemu;
use super::{ColorChoice, Format};
use crate::exit;
use crate::qemu::cache::CachedQemu;
use crate::qemu::probe::{probe, Bios, Outcome, ProbeConfig, ProbeError, ProbeReport};
use crate::report::Mode;

/// Arguments of `vmstate-check probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The source QEMU (writes the stream).
    #[arg(long = "src-qemu", value_name = "BIN")]
    pub src: PathBuf,
    /// An argument for the source QEMU, before all others (repeat for more).
    #[arg(long = "src-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub src_args: Vec<String>,
    /// An environment variable for the source QEMU.
    #[arg(long = "src-env", value_name = "NAME=VALUE")]
    pub src_env: Vec<String>,
    /// The destination QEMU (loads the stream).
    #[arg(long = "dest-qemu", value_name = "BIN")]
    pub dest: PathBuf,
    /// An argument for the destination QEMU, before all others (repeat for more).
    #[arg(long = "dest-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub dest_args: Vec<String>,
    /// An environment variable for the destination QEMU.
    #[arg(long = "dest-env", value_name = "NAME=VALUE")]
    pub dest_env: Vec<String>,
    /// The machine type (the same on both sides).
    #[arg(short = 'M', long = "machine", value_name = "MACHINE")]
    pub machine: String,
    /// Let the source guest run this many seconds before migrating (default: it stays paused
    /// and needs no real firmware).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub boot: u64,
    /// Firmware: `auto` (a byte pattern for x86 PC machines when the guest stays paused),
    /// `pattern`, `default` (QEMU's own), or a file given to `-bios` on both sides.
    #[arg(long, value_name = "auto|pattern|default|FILE", default_value = "auto")]
    pub bios: String,
    /// Guest RAM in MiB.
    #[arg(short = 'm', long = "memory", value_name = "MIB", default_value_t = 32)]
    pub memory: u32,
    /// Seconds each step (start, save, load) may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// Output format: a side-by-side text report, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// When to colour the text.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Cache folder for the destination's dump (as for compare-qemu).
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Dump into a temporary folder that is removed afterwards.
    #[arg(long)]
    pub no_cache: bool,
    /// Keep A's stream (src.mig), B's own stream (dest-own.mig) and the QEMU logs in DIR
    /// (existing files are not replaced), e.g. to study a disagreement with `analyze`.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Device arguments for both QEMUs, after `--` (e.g. `-- -netdev user,id=n0 -device
    /// e1000e,netdev=n0,romfile=`). Give NICs `romfile=`: option ROM sizes differ between
    /// builds and a ROM of another size fails any load.
    #[arg(last = true, value_name = "DEVICE ARGS")]
    pub devices: Vec<String>,
}

/// Runs `probe`; returns 0 when prediction and real load agree, 1 when they do not.
pub fn run(args: &ProbeArgs) -> Result<u8, Error> {
    crate::qemu::process::install_interrupt_flag();
    let src = make_qemu(&args.src, &args.src_args, &args.src_env, "--src-env")?;
    let dest = make_qemu(&args.dest, &args.dest_args, &args.dest_env, "--dest-env")?;
    let (root, _temp) = cache_root(&args.cache_dir, args.no_cache)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let fail = |e: ProbeError| {
        let code = match &e {
            ProbeError::Qemu(q) => q.exit_code(),
            ProbeError::Input(_) => exit::INPUT_ERROR,
            ProbeError::Stream { .. } => exit::STREAM_ERROR,
        };
        Error::in_command("probe", e, code)
    };
    let opened = CachedQemu::open(&src, &root, timeout)
        .and_then(|s| CachedQemu::open(&dest, &root, timeout).map(|d| (s, d)));
    let (src_c, dest_c) = opened.map_err(|e| fail(e.into()))?;
    let dest_dump = dest_c
        .dump(&args.machine, timeout)
        .map_err(|e| fail(e.into()))?
        .0;
    // Refuse before starting any QEMU rather than after the probe ran.
    if let Some(keep) = &args.keep {
        if let Some(path) = crate::qemu::probe::KEPT
            .iter()
            .map(|n| keep.join(n))
            .find(|p| p.exists())
        {
            return Err(fail(crate::qemu::QemuError::Exists { path }.into()));
        }
    }
    let bios = match args.bios.as_str() {
        "auto" => Bios::Auto,
        "pattern" => Bios::Pattern,
        "default" => Bios::Default,
        file => Bios::File(PathBuf::from(file)),
    };
    let cfg = ProbeConfig {
        src,
        dest,
        machine: args.machine.clone(),
        devices: args.devices.clone(),
        boot: Duration::from_secs(args.boot),
        bios,
        memory_mb: args.memory,
        timeout,
        dest_dump,
        keep: args.keep.clone(),
    };
    let report = probe(&cfg).map_err(fail)?;
    let stdout = io::stdout();
    let color = args.color.enabled(stdout.is_terminal());
    let mut out = io::BufWriter::new(stdout.lock());
    let written = match args.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&to_json(&cfg, &src_c, &dest_c, &report))
                .unwrap_or_default();
            text.push('\n');
            out.write_all(text.as_bytes())
        }
        Format::Text => write_text(&mut out, &cfg, &src_c, &dest_c, &report, color),
    }
    .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(Error::in_command(
                "probe",
                format!("cannot write output: {e}"),
                exit::OUTPUT_ERROR,
            ));
        }
    }
    Ok(if report.agree() { exit::OK } else { 1 })
}

fn word(o: Outcome) -> &'static str {
    match o {
        Outcome::Loads => "loads",
        Outcome::Misreads => "misreads",
        Outcome::Fails => "fails",
    }
}

fn write_text(
    w: &mut dyn Write,
    cfg: &ProbeConfig,
    src: &CachedQemu,
    dest: &CachedQemu,
    r: &ProbeReport,
    color: bool,
) -> io::Result<()> {
    writeln!(w, "machine:     {}", cfg.machine)?;
    writeln!(
        w,
        "devices:     {}",
        if cfg.devices.is_empty() {
            "(none)".to_owned()
        } else {
            cfg.devices.join(" ")
        }
    )?;
    writeln!(
        w,
        "source (A):  {} ({} bytes of stream)",
        src.record.version_line, r.stream_bytes
    )?;
    writeln!(w, "dest (B):    {}", dest.record.version_line)?;
    writeln!(w)?;
    let p = &r.predicted;
    let predicted = match p.problems {
        0 => format!("{} ({} sections checked)", word(p.outcome), p.checked),
        n => format!(
            "{} ({n} problem{})",
            word(p.outcome),
            if n == 1 { "" } else { "s" }
        ),
    };
    let real = match &r.real.status {
        Some(s) => format!("{} ({s})", word(r.real.outcome)),
        None => word(r.real.outcome).to_owned(),
    };
    writeln!(w, "{:12} {:40} real", "", "predicted")?;
    writeln!(w, "{:12} {predicted:40} {real}", "outcome")?;
    let from = match &p.dest_stream_error {
        None if p.against.len() > 1 => "B's dump and a stream B wrote of the same guest".to_owned(),
        None => "B's dump".to_owned(),
        Some(e) => format!("B's dump only (B could not write a stream: {e})"),
    };
    writeln!(w, "{:12} {from}", "against")?;
    if p.outcome == Outcome::Misreads {
        writeln!(
            w,
            "{:12} a misread loads without an error: the real load cannot show it",
            "note"
        )?;
    }
    let counted: Vec<_> = p
        .diagnostics
        .iter()
        .filter(|d| Mode::Precise.counts(d))
        .collect();
    if !counted.is_empty() {
        writeln!(w, "predicted because:")?;
        for d in counted {
            writeln!(
                w,
                "  error[{}]: {}",
                d.rule(),
                crate::render::text::explain(d)
            )?;
        }
    }
    if !r.real.message.is_empty() {
        writeln!(w, "destination said:")?;
        for line in r.real.message.split(" | ") {
            writeln!(w, "  {line}")?;
        }
    }
    let verdict = if r.agree() {
        "agree: the prediction matches the real load"
    } else {
        "DISAGREE: the prediction does not match the real load"
    };
    match (color, r.agree()) {
        (true, true) => writeln!(w, "{}", verdict.green()),
        (true, false) => writeln!(w, "{}", verdict.red().bold()),
        (false, _) => writeln!(w, "{verdict}"),
    }
}

fn to_json(cfg: &ProbeConfig, src: &CachedQemu, dest: &CachedQemu, r: &ProbeReport) -> Value {
    let diagnostics: Vec<Value> = r
        .predicted
        .diagnostics
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
            if let Some(m) = v.as_object_mut() {
                m.insert("severity".into(), json!(d.severity()));
                m.insert("counted".into(), json!(Mode::Precise.counts(d)));
                m.insert("message".into(), json!(crate::render::text::explain(d)));
            }
            v
        })
        .collect();
    json!({
        "machine": cfg.machine,
        "devices": cfg.devices,
        "src": src.record,
        "dest": dest.record,
        "stream_bytes": r.stream_bytes,
        "predicted": {
            "outcome": r.predicted.outcome,
            "problems": r.predicted.problems,
            "checked": r.predicted.checked,
            "against": r.predicted.against,
            "dest_stream_error": r.predicted.dest_stream_error,
            "diagnostics": diagnostics,
        },
        "real": r.real,
        "agree": r.agree(),
        "exit_code": if r.agree() { 0 } else { 1 },
    })
}
