//! Colours and symbols shared by every view: direction is colour and arrow everywhere (client to
//! server ↑ green, server to client ↓ blue, as in browser devtools), housekeeping rows muted,
//! problems in the theme's warning colour. Light and dark follow the system (egui's visuals).

use eframe::egui::{Color32, Context, FontDefinitions, FontFamily, Theme, Visuals};
use sockscope::event::Dir;

/// Everything the app sets up on a new window: [`install_fonts`] and [`readable_text`].
pub fn install(ctx: &Context) {
    install_fonts(ctx);
    readable_text(ctx);
}

/// Text colours readable on the panels (WCAG AA, at least 4.5:1), muted text included: egui's
/// default weak text is about 2.7:1, and muted rows carry facts (session end reasons).
pub fn readable_text(ctx: &Context) {
    for theme in [Theme::Dark, Theme::Light] {
        ctx.style_mut_of(theme, |s| apply_readable(&mut s.visuals));
    }
}

/// Sets the normal and the weak (muted) text colours of `v` (see [`readable_text`]).
pub fn apply_readable(v: &mut Visuals) {
    let (text, weak) = if v.dark_mode {
        (Color32::from_gray(200), Color32::from_gray(150))
    } else {
        (Color32::from_gray(40), Color32::from_gray(100))
    };
    v.widgets.noninteractive.fg_stroke.color = text;
    v.weak_text_color = Some(weak);
}

/// WCAG contrast ratio of two opaque colours (1 to 21).
pub fn contrast(a: Color32, b: Color32) -> f32 {
    fn lum(c: Color32) -> f32 {
        let ch = |u: u8| {
            let x = u as f32 / 255.0;
            if x <= 0.03928 {
                x / 12.92
            } else {
                ((x + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(c.r()) + 0.7152 * ch(c.g()) + 0.0722 * ch(c.b())
    }
    let (x, y) = (lum(a), lum(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// Lets proportional text fall back to the monospace font (Hack), which has the arrows and
/// symbols the views use (↑ ↓ → ● ○ ‖) that egui's proportional font lacks, then to the
/// system's fonts for other scripts and emoji ([`crate::fonts`]).
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
    crate::fonts::add_fallbacks(&mut defs, crate::fonts::system());
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

/// Text colour of the acting path's badge (rule hits, hold releases).
pub fn rule(v: &Visuals) -> Color32 {
    if v.dark_mode {
        Color32::from_rgb(0xe0, 0xa0, 0xff)
    } else {
        Color32::from_rgb(0x7a, 0x1f, 0xa2)
    }
}

/// Background of the acting path's badge.
pub fn rule_badge(v: &Visuals) -> Color32 {
    if v.dark_mode {
        Color32::from_rgb(0x3a, 0x24, 0x48)
    } else {
        Color32::from_rgb(0xf1, 0xe2, 0xf8)
    }
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
mod contrast {
    use eframe::egui::Visuals;

    /// Normal and muted text reach WCAG AA (4.5:1) on every background a row is drawn on, and
    /// muted text stays dimmer than normal text.
    #[test]
    fn muted_text_is_readable() {
        for mut v in [Visuals::dark(), Visuals::light()] {
            super::apply_readable(&mut v);
            let bgs = [
                v.panel_fill,
                v.window_fill,
                v.faint_bg_color,
                v.extreme_bg_color,
            ];
            // Translucent fills (striping in light mode) blend towards the panel colour.
            for bg in bgs.into_iter().filter(|c| c.a() == 255) {
                for fg in [v.text_color(), v.weak_text_color(), super::muted(&v)] {
                    let c = super::contrast(fg, bg);
                    assert!(
                        c >= 4.5,
                        "{fg:?} on {bg:?}: {c:.2}:1 (dark {})",
                        v.dark_mode
                    );
                }
            }
            let bg = v.panel_fill;
            assert!(super::contrast(v.weak_text_color(), bg) < super::contrast(v.text_color(), bg));
        }
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
        for c in "↑↓→←●○×↻▲▼‖…▾▸▴·↗⇒✕".chars() {
            let has = ctx.fonts_mut(|f| f.has_glyph(&FontId::proportional(12.0), c));
            assert!(has, "no glyph for {c:?}");
        }
    }
}
