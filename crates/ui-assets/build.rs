//! Embeds `ui/dist` (the front-end build) as a table of files. When the
//! directory is absent the table is empty and the crate serves a page that
//! says how to build the dashboard, so `cargo build` never needs Node.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let dist =
        std::env::var_os("PROMPTLEDGER_UI_DIST").map(PathBuf::from).unwrap_or_else(|| manifest.join("../../ui/dist"));
    println!("cargo:rerun-if-env-changed=PROMPTLEDGER_UI_DIST");
    // A directory is scanned as a whole; a missing one reruns the script on
    // every build, which is cheap, and picks up a later `npm run build`.
    println!("cargo:rerun-if-changed={}", dist.display());

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    }
    files.sort();
    let mut out = String::from(
        "/// (path from the site root, file on disk) for every built file.\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (route, file) in &files {
        writeln!(out, "    ({route:?}, include_bytes!({:?})),", file.display().to_string()).expect("write");
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("files.rs");
    std::fs::write(target, out).expect("write files.rs");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let relative = path.strip_prefix(root).expect("inside dist").to_string_lossy().replace('\\', "/");
            let absolute = path.canonicalize().unwrap_or(path);
            files.push((format!("/{relative}"), absolute));
        }
    }
}
