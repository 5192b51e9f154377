//! The core is a one-way stack: a module names only modules below it, so
//! each layer can be read, tested and changed knowing only what it stands
//! on. From the bottom:
//!
//! 0. `codec` (the stored records' binary form), `store` (tables, batches)
//! 1. `crypto` (the file format), `media` (what files say about themselves)
//! 2. `protocol` (the server's API and answers)
//! 3. `queue` (items, their records, migrations)
//! 4. `scheduler` (budgets, plans, run records, diagnose)
//! 5. `engine` (the steps and runs, over the ports)
//! 6. `web` (the wasm bindings), the only module that names `wasm_bindgen`,
//!    `js_sys` or `web_sys`.
//!
//! Unit tests at the end of a file (`#[cfg(test)]`) may reach higher: they
//! are not part of the layer.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

const LAYERS: &[(&str, u8)] = &[
    ("codec", 0),
    ("store", 0),
    ("crypto", 1),
    ("media", 1),
    ("protocol", 2),
    ("queue", 3),
    ("scheduler", 4),
    ("engine", 5),
    ("web", 6),
];

const BINDINGS: &[&str] = &["wasm_bindgen", "js_sys", "web_sys"];

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer a file of `src/` belongs to: its top module.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The modules `code` names as `crate::<module>`, including inside
/// `use crate::{a::…, b}` groups.
fn named_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out
}

#[test]
fn each_layer_names_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen_layers = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" {
            continue;
        }
        let own = rank(&module).unwrap_or_else(|| panic!("{module} has no place in LAYERS"));
        seen_layers.push(module.clone());
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for named in named_modules(code) {
            if named == module || named.is_empty() {
                continue;
            }
            match rank(&named) {
                Some(r) if r < own => {}
                // Items of the crate root (the `Trace` macro paths etc.).
                None => {}
                Some(_) => wrong.push(format!("{} names crate::{named}", file.display())),
            }
        }
        if module != "web" {
            for binding in BINDINGS {
                if code.contains(binding) {
                    wrong.push(format!("{} names {binding}", file.display()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward or binding references:\n{}",
        wrong.join("\n")
    );
    for (layer, _) in LAYERS {
        assert!(
            seen_layers.iter().any(|m| m == layer),
            "no files for {layer}"
        );
    }
}

#[test]
fn the_reference_finder_sees_groups_and_paths() {
    assert_eq!(
        named_modules(
            "use crate::{queue::Item, scheduler};\nlet x = crate::engine::Engine::new();"
        ),
        ["queue", "scheduler", "engine"]
    );
}
