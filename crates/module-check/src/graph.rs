//! Resolves what each module names to the module that holds it, turns that into dependencies
//! between siblings, and finds the strongly connected components (Tarjan) among them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::tree::{ModPath, Tree};
use crate::{name, Cycle, Edge};

/// Sibling edges grouped by parent: parent → (from child, to child) → first evidence.
type Siblings = BTreeMap<ModPath, BTreeMap<(String, String), String>>;

pub fn cycles(tree: &Tree, base: &Path) -> Vec<Cycle> {
    let mut siblings = Siblings::new();
    for (path, module) in &tree.modules {
        for raw in &module.refs {
            let Some(target) = resolve(tree, path, raw).and_then(|abs| holder(tree, &abs)) else { continue };
            let common = path.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == path.len() || common == target.len() {
                continue; // itself, an ancestor or a descendant
            }
            let file = module.file.strip_prefix(base).unwrap_or(&module.file).display().to_string();
            siblings
                .entry(path[..common].to_vec())
                .or_default()
                .entry((path[common].clone(), target[common].clone()))
                .or_insert_with(|| format!("{file}: {}", raw.join("::")));
        }
    }
    let mut out = Vec::new();
    for (parent, edges) in &siblings {
        for members in components(edges) {
            let inside = |e: &(String, String)| members.contains(&e.0) && members.contains(&e.1);
            out.push(Cycle {
                parent: name(parent),
                members: members.iter().cloned().collect(),
                edges: edges
                    .iter()
                    .filter(|(k, _)| inside(k))
                    .map(|((from, to), evidence)| Edge {
                        from: from.clone(),
                        to: to.clone(),
                        evidence: evidence.clone(),
                    })
                    .collect(),
            });
        }
    }
    out
}

/// The absolute module-relative path `raw` means inside module `at`, if it is in this crate.
fn resolve(tree: &Tree, at: &ModPath, raw: &[String]) -> Option<ModPath> {
    let first = raw.first()?;
    if !["crate", "self", "super"].contains(&first.as_str()) {
        let child = [at.as_slice(), &raw[..1]].concat();
        return tree.modules.contains_key(&child).then(|| [at.as_slice(), raw].concat());
    }
    let mut here = at.clone();
    let mut rest = raw;
    while let Some((seg, tail)) = rest.split_first() {
        match seg.as_str() {
            "crate" => here.clear(),
            "self" => {}
            "super" => {
                here.pop()?;
            }
            _ => break,
        }
        rest = tail;
    }
    Some([here.as_slice(), rest].concat())
}

/// The deepest module that `abs` lies in.
fn holder(tree: &Tree, abs: &[String]) -> Option<ModPath> {
    (0..=abs.len()).rev().map(|n| abs[..n].to_vec()).find(|p| tree.modules.contains_key(p))
}

/// Components with more than one member (a cycle), by Tarjan's algorithm.
fn components(edges: &BTreeMap<(String, String), String>) -> Vec<BTreeSet<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
        next.entry(to).or_default();
    }
    let mut t =
        Tarjan { next: &next, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for &v in next.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.found
}

struct Tarjan<'a> {
    next: &'a BTreeMap<&'a str, Vec<&'a str>>,
    index: BTreeMap<&'a str, usize>,
    low: BTreeMap<&'a str, usize>,
    stack: Vec<&'a str>,
    found: Vec<BTreeSet<String>>,
}

impl<'a> Tarjan<'a> {
    fn visit(&mut self, v: &'a str) {
        let i = self.index.len();
        self.index.insert(v, i);
        self.low.insert(v, i);
        self.stack.push(v);
        for &w in self.next.get(v).map(Vec::as_slice).unwrap_or_default() {
            if !self.index.contains_key(w) {
                self.visit(w);
                let lw = self.low[w];
                let lv = self.low.get_mut(v).map(|l| {
                    *l = (*l).min(lw);
                    *l
                });
                let _ = lv;
            } else if self.stack.contains(&w) {
                let iw = self.index[w];
                if let Some(l) = self.low.get_mut(v) {
                    *l = (*l).min(iw);
                }
            }
        }
        if self.low[v] == self.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = self.stack.pop() {
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                self.found.push(comp);
            }
        }
    }
}
