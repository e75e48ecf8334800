//! Every page of `docs/` is compiled by the doc tests: `lib.rs` includes each one in its
//! `cfg(doctest)` module. A page added without that line would have its Rust blocks
//! silently unchecked; this test says which.

use std::fs;
use std::path::Path;

#[test]
fn every_docs_page_is_included_in_the_doctests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lib = fs::read_to_string(root.join("crates/weft/src/lib.rs")).expect("read lib.rs");
    let mut missing = Vec::new();
    for entry in fs::read_dir(root.join("docs")).expect("read docs/") {
        let name = entry.expect("a docs/ entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".md") {
            let line = format!("include_str!(\"../../../docs/{name}\")");
            if !lib.contains(&line) {
                missing.push(name.into_owned());
            }
        }
    }
    assert!(missing.is_empty(), "docs pages not compiled as doctests (add them to `mod docs` in crates/weft/src/lib.rs): {missing:?}");
}
