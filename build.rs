//! Build script: gives `--version` the `git describe --always --dirty` of the checkout it was
//! built from (e.g. `0.1.0 (c7c64f6-dirty)`), and just the package version when there is no git
//! or no repository (a crate tarball, an exported tree).

use std::path::PathBuf;
use std::process::Command;

/// The package folder, read when the script runs (not `env!`: the compiled script may be
/// reused for a checkout at another path, whose own folder is the one to describe).
fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into()))
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(manifest_dir())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    let package = env!("CARGO_PKG_VERSION");
    let version = match git(&["describe", "--always", "--dirty"]) {
        Some(describe) => format!("{package} ({describe})"),
        None => package.to_owned(),
    };
    println!("cargo:rustc-env=VMSTATE_CHECK_VERSION={version}");

    // Re-run when the commit, the branch or the index changes, and when a source file changes
    // (which can make the tree dirty). Paths that do not exist are fine for cargo.
    let root = manifest_dir();
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        println!("cargo:rerun-if-changed={}", git_dir.join("index").display());
        if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
            let common = root.join(common);
            println!(
                "cargo:rerun-if-changed={}",
                common.join("packed-refs").display()
            );
            println!("cargo:rerun-if-changed={}", common.join("refs").display());
        }
    }
    for path in ["build.rs", "Cargo.toml", "Cargo.lock", "src", "data"] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
}
