//! Embeds the labelled error pages of `engine/tests/fixtures/error-pages/`,
//! which the synthetic internet's fronts serve (`server/src/sim/fronts.toml`
//! names them), so `faultline simulate` and `demo` run from the binary alone.

use std::fmt::Write as _;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let dir = Path::new(&manifest).join("../engine/tests/fixtures/error-pages");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "html")
        {
            if let Some(stem) = path.file_stem().and_then(|stem| stem.to_str()) {
                pages.push((stem.to_owned(), path.canonicalize()?));
            }
        }
    }
    pages.sort();
    let mut source = String::from("/// Every labelled page: its name and its bytes.\n");
    source.push_str("pub static ERROR_PAGES: &[(&str, &[u8])] = &[\n");
    for (name, path) in &pages {
        writeln!(
            source,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )?;
    }
    source.push_str("];\n");
    let out = std::env::var("OUT_DIR")?;
    std::fs::write(Path::new(&out).join("error_pages.rs"), source)?;
    Ok(())
}
