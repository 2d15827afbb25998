//! Every crate of the workspace has no dependency cycle between sibling modules, and the check
//! itself fails on a tree built with one.

#![allow(clippy::expect_used)] // the helpers of a test abort on a broken fixture

use std::path::{Path, PathBuf};

use ereceipt_module_check::check_crate;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every library and binary root under `crates/*/src`.
fn roots() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(workspace().join("crates")).expect("crates folder") {
        let src = entry.expect("crate entry").path().join("src");
        for root in ["lib.rs", "main.rs"] {
            if src.join(root).is_file() {
                out.push(src.join(root));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_crate_has_a_cycle_between_modules() {
    let roots = roots();
    assert!(roots.len() >= 5, "found only {roots:?}");
    let mut failures = String::new();
    for root in &roots {
        let report = check_crate(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
        assert!(report.modules >= 1);
        for c in &report.cycles {
            failures.push_str(&format!("{}:\n{c}", root.display()));
        }
    }
    assert!(failures.is_empty(), "module dependency cycles:\n{failures}");
}

fn write(dir: &Path, file: &str, text: &str) {
    let p = dir.join(file);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// A small crate: `a` uses `b`, `b::inner` uses `a` through `super::super`, and a deeper pair
/// under `c` use each other inside a macro; a test module that reaches back does not count.
#[test]
fn a_deliberate_cycle_is_found_and_named_with_its_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "src/lib.rs", "pub mod a;\npub mod b;\npub mod c;\n#[cfg(test)]\nmod tests { use crate::a::A; }\n");
    write(d, "src/a.rs", "use crate::b::B;\npub struct A(B);\n");
    write(d, "src/b/mod.rs", "pub mod inner;\npub struct B;\n");
    write(d, "src/b/inner.rs", "pub fn f() -> super::super::a::A { todo!() }\n");
    write(d, "src/c.rs", "mod x { pub fn f() { println!(\"{}\", self::super::y::g()); } }\nmod y { pub fn g() -> u8 { 1 } pub fn h() { crate::c::x::f() } }\n");
    let report = check_crate(&d.join("src/lib.rs")).expect("check");
    let shown: Vec<String> = report.cycles.iter().map(|c| c.to_string()).collect();
    assert_eq!(report.cycles.len(), 2, "{shown:#?}");
    assert_eq!(report.cycles[0].parent, "crate");
    assert_eq!(report.cycles[0].members, ["a", "b"]);
    assert!(shown[0].contains("b -> a  (b/inner.rs: super::super::a::A)"), "{}", shown[0]);
    assert!(shown[0].contains("a -> b  (a.rs: crate::b::B)"), "{}", shown[0]);
    assert_eq!(report.cycles[1].parent, "crate::c");
    assert_eq!(report.cycles[1].members, ["x", "y"]);

    // Break both: the same tree without the back edges is clean.
    write(d, "src/b/inner.rs", "pub fn f() {}\n");
    write(
        d,
        "src/c.rs",
        "mod x { pub fn f() { println!(\"{}\", super::y::g()); } }\nmod y { pub fn g() -> u8 { 1 } }\n",
    );
    let report = check_crate(&d.join("src/lib.rs")).expect("check");
    assert!(report.cycles.is_empty(), "{:?}", report.cycles);
    assert_eq!(report.modules, 7, "crate, a, b, b::inner, c, c::x, c::y; the test module is not counted");
}

#[test]
fn a_missing_module_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "src/lib.rs", "mod gone;\n");
    let e = check_crate(&dir.path().join("src/lib.rs")).expect_err("must fail");
    assert!(e.to_string().contains("module `gone` declared in"), "{e}");
}
