//! Fallback fonts for payload text that egui's bundled fonts lack (CJK, Arabic, ✓, most emoji):
//! system fonts found at start-up (Debian: `fonts-dejavu-core`, `fonts-noto-cjk`,
//! `fonts-symbola`), appended after egui's own so Latin text keeps its look. Missing files are
//! skipped: the app runs with whatever is there, and the glyphs no font has show as boxes.
//! egui draws outlines only, so colour bitmap emoji fonts (Noto Color Emoji, CBDT) are not used.

use eframe::egui::{FontData, FontDefinitions, FontFamily};
use std::sync::{Arc, OnceLock};

/// A font looked for on the system: its name in egui, where distributions put it, and the face
/// to use in a collection (`.ttc`).
pub struct Candidate {
    pub name: &'static str,
    pub paths: &'static [&'static str],
    pub index: u32,
}

/// The fallbacks, in the order egui tries them after its own fonts.
pub const CANDIDATES: &[Candidate] = &[
    // Arabic, Hebrew, Cyrillic, Greek, ✓ ✗ and most symbols.
    Candidate {
        name: "DejaVu Sans",
        paths: &[
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        ],
        index: 0,
    },
    // Chinese, Japanese, Korean (face 0 of the collection: all the ideographs, Japanese shapes).
    Candidate {
        name: "Noto Sans CJK",
        paths: &[
            "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
            "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
            "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
            "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
        ],
        index: 0,
    },
    // Arabic in Noto's shapes where fonts-noto-core is installed (DejaVu covers it otherwise).
    Candidate {
        name: "Noto Sans Arabic",
        paths: &[
            "/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf",
            "/usr/share/fonts/noto/NotoSansArabic-Regular.ttf",
        ],
        index: 0,
    },
    // Monochrome emoji and pictographs (egui's bundled Noto Emoji subset has few).
    Candidate {
        name: "Symbola",
        paths: &[
            "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
            "/usr/share/fonts/gdouros-symbola/Symbola.ttf",
            "/usr/share/fonts/TTF/Symbola.ttf",
        ],
        index: 0,
    },
];

/// A fallback font read from disk.
pub struct Loaded {
    pub name: &'static str,
    pub path: &'static str,
    pub data: FontData,
}

/// Reads the first existing file of each candidate (unreadable ones are skipped).
pub fn load(candidates: &[Candidate]) -> Vec<Loaded> {
    candidates
        .iter()
        .filter_map(|c| {
            c.paths.iter().find_map(|p| {
                std::fs::read(p).ok().map(|bytes| Loaded {
                    name: c.name,
                    path: p,
                    data: FontData::from_blob(Arc::new(bytes), c.index),
                })
            })
        })
        .collect()
}

/// The system's fallback fonts, read once per process (every window and test shares them).
pub fn system() -> &'static [Loaded] {
    static FONTS: OnceLock<Vec<Loaded>> = OnceLock::new();
    FONTS.get_or_init(|| load(CANDIDATES))
}

/// Appends `fonts` to the proportional and monospace families, after the fonts already there.
pub fn add_fallbacks(defs: &mut FontDefinitions, fonts: &[Loaded]) {
    for f in fonts {
        defs.font_data
            .insert(f.name.to_owned(), Arc::new(f.data.clone()));
        for family in [FontFamily::Proportional, FontFamily::Monospace] {
            let chain = defs.families.entry(family).or_default();
            if !chain.iter().any(|n| n == f.name) {
                chain.push(f.name.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theme;
    use eframe::egui::{self, FontId};

    fn glyphs(ctx: &egui::Context, text: &str) -> Vec<char> {
        let mut out = ctx.run_ui(Default::default(), |_| {});
        out.textures_delta.clear();
        text.chars()
            .filter(|c| !ctx.fonts_mut(|f| f.has_glyph(&FontId::proportional(12.0), *c)))
            .collect()
    }

    /// CJK, Arabic, ✓ and emoji in payloads are drawn with the system fonts (installed by
    /// scripts/test.sh and scripts/run.sh: fonts-dejavu-core, fonts-noto-cjk, fonts-symbola).
    #[test]
    fn payload_scripts_have_glyphs() {
        let ctx = egui::Context::default();
        theme::install_fonts(&ctx);
        let missing = glyphs(&ctx, "中文日本語한국어✓✗مرحبا😀🎉🚀👍❤");
        assert!(
            missing.is_empty(),
            "no glyph for {missing:?}; fonts found: {:?} (install fonts-dejavu-core fonts-noto-cjk fonts-symbola)",
            system().iter().map(|f| f.path).collect::<Vec<_>>()
        );
    }

    /// Without the system fonts the app still starts (the glyphs are missing, nothing fails).
    #[test]
    fn no_system_fonts_is_not_an_error() {
        let none = load(&[Candidate {
            name: "nowhere",
            paths: &["/nonexistent/font.ttf"],
            index: 0,
        }]);
        assert!(none.is_empty());
        let ctx = egui::Context::default();
        let mut defs = FontDefinitions::default();
        add_fallbacks(&mut defs, &none);
        ctx.set_fonts(defs);
        assert_eq!(glyphs(&ctx, "中"), vec!['中']);
        assert!(glyphs(&ctx, "abc").is_empty());
    }
}
