//! Colours and symbols shared by every view: direction is colour and arrow everywhere (client to
//! server ↑ green, server to client ↓ blue, as in browser devtools), housekeeping rows muted,
//! problems in the theme's warning colour. Light and dark follow the system (egui's visuals).

use eframe::egui::{Color32, Context, FontDefinitions, FontFamily, Visuals};
use sockscope::event::Dir;

/// Lets proportional text fall back to the monospace font (Hack), which has the arrows and
/// symbols the views use (↑ ↓ → ● ○ ‖) that egui's proportional font lacks.
pub fn install_fonts(ctx: &Context) {
    let mut defs = FontDefinitions::default();
    let mono = defs
        .families
        .get(&FontFamily::Monospace)
        .and_then(|f| f.first().cloned());
    if let (Some(mono), Some(prop)) = (mono, defs.families.get_mut(&FontFamily::Proportional))
        && !prop.contains(&mono)
    {
        prop.push(mono);
    }
    ctx.set_fonts(defs);
}

/// The arrow for a direction: ↑ sent by the client, ↓ received from the server.
pub fn arrow(dir: Dir) -> &'static str {
    match dir {
        Dir::ClientToServer => "↑",
        Dir::ServerToClient => "↓",
    }
}

/// The colour of a direction, readable on the current background.
pub fn dir_color(v: &Visuals, dir: Dir) -> Color32 {
    match (dir, v.dark_mode) {
        (Dir::ClientToServer, true) => Color32::from_rgb(0x6c, 0xc9, 0x7a),
        (Dir::ClientToServer, false) => Color32::from_rgb(0x16, 0x7a, 0x34),
        (Dir::ServerToClient, true) => Color32::from_rgb(0x79, 0xb0, 0xff),
        (Dir::ServerToClient, false) => Color32::from_rgb(0x0b, 0x5c, 0xd5),
    }
}

/// Text colour for rows that signal a problem.
pub fn warn(v: &Visuals) -> Color32 {
    v.warn_fg_color
}

/// Text colour for errors (bad filter, unreadable capture).
pub fn error(v: &Visuals) -> Color32 {
    v.error_fg_color
}

/// Text colour for housekeeping rows (ping/pong, connection lifecycle).
pub fn muted(v: &Visuals) -> Color32 {
    v.weak_text_color()
}

/// `1 client`, `3 clients`: a count with its noun (plural with an `s`).
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", thousands(n))
    }
}

/// `1,234,567`: counts are easier to read with separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}

#[cfg(test)]
mod glyphs {
    /// Every symbol the views draw exists in the installed fonts (a missing one shows as a box).
    #[test]
    fn the_symbols_the_views_use_exist() {
        use eframe::egui::{self, FontId};
        let ctx = egui::Context::default();
        super::install_fonts(&ctx);
        let mut out = ctx.run_ui(Default::default(), |_| {});
        out.textures_delta.clear();
        for c in "↑↓→←●○×↻▲▼‖…▾▸▴·↗".chars() {
            let has = ctx.fonts_mut(|f| f.has_glyph(&FontId::proportional(12.0), c));
            assert!(has, "no glyph for {c:?}");
        }
    }
}
