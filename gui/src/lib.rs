//! sockscope-gui: the desktop app of sockscope, a live view of the HTTP and WebSocket traffic
//! through the proxy (or of a saved capture).
//!
//! ```text
//! proxy pipeline (+ session stage) ─▶ ChannelSink ─▶ (GUI thread, per-frame budget) ─▶ Store
//! capture file (NDJSON or HAR) ─▶ reader thread ─▶ Deriver (session stage if missing) ─▶ Store
//! Store ─▶ RowIndex (filter, incremental) ─▶ views: table · detail · sessions · timelines · status
//! ```
//!
//! Module map: [`store`], [`row`], [`row_session`], [`row_rules`], [`sessions`], [`symbols`] and [`arena`] hold
//! the data (no egui); [`badges`] links what the acting path did to the rows it did it to, and
//! [`diff`] compares what arrived with what was sent; [`filter`] and [`index`] select rows; [`capture`] and [`derive`] read
//! captures; [`export`] runs exports; [`timeline`] has the timelines' axes and point reduction;
//! [`app`] is the eframe app and one `view_*` module per view; [`launch`] parses the command line
//! and picks GUI or headless; [`testhook`] serves the end-to-end tests. Acting on a live proxy
//! (issue 17): [`view_rules_panel`] (the Rules panel), [`presets`] (fault presets as rule texts,
//! their menus and Undo), [`fault_bands`] (when each rule acted, drawn on the timelines).

pub mod app;
pub mod arena;
pub mod badges;
pub mod capture;
pub mod derive;
pub mod diff;
pub mod export;
pub mod fault_bands;
pub mod filter;
pub mod fonts;
pub mod index;
pub mod json_edit;
pub mod launch;
pub mod presets;
pub mod row;
pub mod row_rules;
pub mod row_session;
pub mod sample;
pub mod sample_acting;
pub mod sessions;
pub mod status;
pub mod store;
pub mod symbols;
pub mod testhook;
pub mod theme;
pub mod timeline;
pub mod view_detail;
pub mod view_detail_changed;
pub mod view_detail_rule;
pub mod view_detail_sio;
pub mod view_dialogs;
pub mod view_empty;
pub mod view_heartbeat;
pub mod view_held;
pub mod view_intercept;
pub mod view_payload;
pub mod view_reconnect;
pub mod view_replay;
pub mod view_rules;
pub mod view_rules_panel;
pub mod view_send;
pub mod view_sessions;
pub mod view_table;
pub mod view_timeline;
