//! Interned short strings (Socket.IO event names, namespaces, session labels): each distinct
//! name is stored once and rows refer to it by a 4-byte [`Sym`], so a million Socket.IO rows
//! cost no per-row allocation. The table is bounded ([`MAX_SYMBOLS`]); past it, new names map
//! to [`Sym::OTHER`] (the row's preview still shows the name, but a field filter cannot match it).

use std::collections::HashMap;

/// Distinct names kept at most.
pub const MAX_SYMBOLS: usize = 1 << 16;

/// A name in a [`Symbols`] table; [`Sym::NONE`] means "no value".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

impl Sym {
    /// No value.
    pub const NONE: Sym = Sym(0);
    /// A name that did not fit in the table.
    pub const OTHER: Sym = Sym(1);

    pub fn is_none(self) -> bool {
        self == Sym::NONE
    }
}

/// The interning table.
#[derive(Debug)]
pub struct Symbols {
    map: HashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Default for Symbols {
    fn default() -> Self {
        Symbols {
            map: HashMap::new(),
            names: vec!["".into(), "…".into()],
        }
    }
}

impl Symbols {
    /// The symbol of `s` (added if new and there is room).
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&sym) = self.map.get(s) {
            return sym;
        }
        if self.names.len() >= MAX_SYMBOLS {
            return Sym::OTHER;
        }
        let sym = Sym(self.names.len() as u32);
        self.names.push(s.into());
        self.map.insert(s.into(), sym);
        sym
    }

    /// Interns an optional name (`None` → [`Sym::NONE`]).
    pub fn intern_opt(&mut self, s: Option<&str>) -> Sym {
        s.map_or(Sym::NONE, |s| self.intern(s))
    }

    /// The symbol of `s`, if it was interned.
    pub fn lookup(&self, s: &str) -> Option<Sym> {
        self.map.get(s).copied()
    }

    /// The name of a symbol (`""` for [`Sym::NONE`]).
    pub fn name(&self, sym: Sym) -> &str {
        self.names.get(sym.0 as usize).map_or("", |s| s)
    }

    /// The name, or `None` for [`Sym::NONE`].
    pub fn get(&self, sym: Sym) -> Option<&str> {
        (!sym.is_none()).then(|| self.name(sym))
    }

    /// Approximate bytes in use.
    pub fn bytes(&self) -> usize {
        self.names.iter().map(|n| n.len() * 2 + 48).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_bounded() {
        let mut s = Symbols::default();
        let a = s.intern("chat");
        assert_eq!(s.intern("chat"), a);
        assert_eq!(s.name(a), "chat");
        assert_eq!(s.get(Sym::NONE), None);
        assert_eq!(s.lookup("nope"), None);
        for i in 0..MAX_SYMBOLS {
            s.intern(&format!("e{i}"));
        }
        assert_eq!(s.intern("one too many"), Sym::OTHER);
        assert_eq!(s.intern("chat"), a);
    }
}
