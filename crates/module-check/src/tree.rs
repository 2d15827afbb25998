//! Reads a crate's module tree from its source files, as the compiler would find them
//! (`mod x;` is `x.rs` or `x/mod.rs`, `#[path]` honoured), and collects every path each module
//! names: in `use` trees, in code and types, and inside macro calls. Test-only code
//! (`#[cfg(test)]` modules and items) is left out: tests may reach anywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

use crate::CheckError;

/// A module's absolute path below the crate root (empty for the root).
pub type ModPath = Vec<String>;

/// One module and what it names.
#[derive(Debug, Default)]
pub struct Module {
    /// The file that holds it (the parent's file for an inline module).
    pub file: PathBuf,
    /// Paths as written (`crate::a::B`, `super::x`, `child::f`), one entry each.
    pub refs: Vec<Vec<String>>,
}

/// Every module of a crate.
#[derive(Debug, Default)]
pub struct Tree {
    pub modules: BTreeMap<ModPath, Module>,
}

impl Tree {
    /// Reads the crate whose root file (`src/lib.rs` or `src/main.rs`) is `root`.
    pub fn load(root: &Path) -> Result<Tree, CheckError> {
        let mut tree = Tree::default();
        let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
        tree.load_file(root, Vec::new(), &dir)?;
        Ok(tree)
    }

    fn load_file(&mut self, file: &Path, path: ModPath, children_dir: &Path) -> Result<(), CheckError> {
        let text =
            std::fs::read_to_string(file).map_err(|e| CheckError::Read { file: file.to_path_buf(), source: e })?;
        let parsed = syn::parse_file(&text)
            .map_err(|e| CheckError::Parse { file: file.to_path_buf(), detail: e.to_string() })?;
        self.load_items(&parsed.items, path, file, children_dir)
    }

    fn load_items(
        &mut self,
        items: &[syn::Item],
        path: ModPath,
        file: &Path,
        children_dir: &Path,
    ) -> Result<(), CheckError> {
        let mut refs = Collector::default();
        for item in items {
            match item {
                syn::Item::Mod(m) if is_test_only(&m.attrs) => {}
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let mut child = path.clone();
                    child.push(name.clone());
                    let child_dir = children_dir.join(&name);
                    match &m.content {
                        Some((_, inner)) => self.load_items(inner, child, file, &child_dir)?,
                        None => {
                            let child_file = module_file(&m.attrs, file, children_dir, &name)?;
                            self.load_file(&child_file, child, &child_dir)?;
                        }
                    }
                }
                other => refs.visit_item(other),
            }
        }
        self.modules.insert(path, Module { file: file.to_path_buf(), refs: refs.paths });
        Ok(())
    }
}

/// Where `mod name;` lives: its `#[path]` (relative to the declaring file's folder), else
/// `name.rs` or `name/mod.rs` in the parent's folder for children.
fn module_file(
    attrs: &[syn::Attribute],
    declared_in: &Path,
    children_dir: &Path,
    name: &str,
) -> Result<PathBuf, CheckError> {
    for a in attrs {
        if let syn::Meta::NameValue(nv) = &a.meta {
            if nv.path.is_ident("path") {
                if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &nv.value {
                    let base = declared_in.parent().unwrap_or(Path::new("."));
                    return Ok(base.join(s.value()));
                }
            }
        }
    }
    let flat = children_dir.join(format!("{name}.rs"));
    let nested = children_dir.join(name).join("mod.rs");
    [flat, nested]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| CheckError::MissingModule { name: name.to_string(), declared_in: declared_in.to_path_buf() })
}

/// `#[cfg(test)]` (also inside `all(...)`/`any(...)` with `test`): compiled only for tests.
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && {
            let mut test = false;
            let _ = a.parse_nested_meta(|m| {
                test |= m.path.is_ident("test");
                if m.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in m.input);
                    let inner: TokenStream = content.parse()?;
                    test |= inner.to_string().split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == "test");
                }
                Ok(())
            });
            test
        }
    })
}

/// Gathers the paths one module's items name.
#[derive(Default)]
struct Collector {
    paths: Vec<Vec<String>>,
}

impl<'a> Visit<'a> for Collector {
    fn visit_item(&mut self, i: &'a syn::Item) {
        if !item_attrs(i).is_some_and(is_test_only) {
            syn::visit::visit_item(self, i);
        }
    }

    fn visit_impl_item_fn(&mut self, f: &'a syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_item_use(&mut self, u: &'a syn::ItemUse) {
        use_paths(&u.tree, &mut Vec::new(), &mut self.paths);
    }

    fn visit_path(&mut self, p: &'a syn::Path) {
        self.paths.push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'a syn::Macro) {
        self.visit_path(&m.path);
        macro_paths(m.tokens.clone(), &mut self.paths);
    }

    /// Doc comments and other attributes name nothing the code depends on.
    fn visit_attribute(&mut self, _: &'a syn::Attribute) {}
}

fn item_attrs(i: &syn::Item) -> Option<&[syn::Attribute]> {
    use syn::Item::*;
    Some(match i {
        Const(x) => &x.attrs,
        Enum(x) => &x.attrs,
        ExternCrate(x) => &x.attrs,
        Fn(x) => &x.attrs,
        ForeignMod(x) => &x.attrs,
        Impl(x) => &x.attrs,
        Macro(x) => &x.attrs,
        Mod(x) => &x.attrs,
        Static(x) => &x.attrs,
        Struct(x) => &x.attrs,
        Trait(x) => &x.attrs,
        TraitAlias(x) => &x.attrs,
        Type(x) => &x.attrs,
        Union(x) => &x.attrs,
        Use(x) => &x.attrs,
        _ => return None,
    })
}

/// Every leaf of a `use` tree as a full path (`use a::{b, c::*}` gives `a::b` and `a::c`).
fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) if n.ident == "self" => out.push(prefix.clone()),
        syn::UseTree::Name(n) => out.push([prefix.as_slice(), &[n.ident.to_string()]].concat()),
        syn::UseTree::Rename(r) => out.push([prefix.as_slice(), &[r.ident.to_string()]].concat()),
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_paths(t, prefix, out)),
    }
}

/// Paths inside a macro call's tokens (`format!("{}", crate::x::f())`): any `crate`, `super` or
/// `self` followed by `::name` segments. Calls of child modules inside macros are not seen.
fn macro_paths(tokens: TokenStream, out: &mut Vec<Vec<String>>) {
    let flat: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < flat.len() {
        match &flat[i] {
            TokenTree::Group(g) => macro_paths(g.stream(), out),
            TokenTree::Ident(id) if ["crate", "super", "self"].contains(&id.to_string().as_str()) => {
                let mut path = vec![id.to_string()];
                let mut j = i + 1;
                while is_colon(flat.get(j)) && is_colon(flat.get(j + 1)) {
                    match flat.get(j + 2) {
                        Some(TokenTree::Ident(seg)) => {
                            path.push(seg.to_string());
                            j += 3;
                        }
                        _ => break,
                    }
                }
                if path.len() > 1 {
                    out.push(path);
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

fn is_colon(t: Option<&TokenTree>) -> bool {
    matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == ':')
}
