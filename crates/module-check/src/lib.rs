//! Dev-only: fails when modules depend on each other in a cycle.
//!
//! The rule, checked in every crate of the workspace: among the child modules of any module,
//! "child A uses something in child B" (anywhere in A's subtree, of anything in B's subtree)
//! forms a graph with no cycle. A parent and its own children may use each other (a module is
//! made of its children); `#[cfg(test)]` code is not counted. That is the design review's
//! "no dependency cycles between modules", applied at every level instead of only the top.
//!
//! We read the source with `syn` rather than running `cargo-modules`: its acyclic check took
//! 6 minutes per crate here (rust-analyzer loads the whole dependency graph), its installation
//! 13 minutes, and at item level it reports every `impl Display for T` as a cycle.

mod graph;
mod tree;

use std::fmt;
use std::path::{Path, PathBuf};

pub use tree::{ModPath, Tree};

/// Why a crate could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    #[error("cannot read {file}: {source}")]
    Read { file: PathBuf, source: std::io::Error },
    #[error("cannot parse {file}: {detail}")]
    Parse { file: PathBuf, detail: String },
    #[error("module `{name}` declared in {declared_in} has no file")]
    MissingModule { name: String, declared_in: PathBuf },
}

/// One use that makes sibling `from` depend on sibling `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The file and the path it names, e.g. `src/a.rs: crate::b::Thing`.
    pub evidence: String,
}

/// Siblings under one parent that depend on each other in a cycle, with one use per edge.
#[derive(Debug, PartialEq, Eq)]
pub struct Cycle {
    pub parent: String,
    pub members: Vec<String>,
    pub edges: Vec<Edge>,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cycle among the children of `{}`: {}", self.parent, self.members.join(", "))?;
        for e in &self.edges {
            writeln!(f, "  {} -> {}  ({})", e.from, e.to, e.evidence)?;
        }
        Ok(())
    }
}

/// What one crate's check found.
#[derive(Debug)]
pub struct Report {
    pub modules: usize,
    pub cycles: Vec<Cycle>,
}

/// Checks the crate whose root file is `root` (`src/lib.rs`, `src/main.rs`).
pub fn check_crate(root: &Path) -> Result<Report, CheckError> {
    let tree = Tree::load(root)?;
    let base = root.parent().unwrap_or(Path::new("."));
    Ok(Report { modules: tree.modules.len(), cycles: graph::cycles(&tree, base) })
}

/// Display name of a module path (`crate` for the root).
fn name(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_string()
    } else {
        format!("crate::{}", path.join("::"))
    }
}
