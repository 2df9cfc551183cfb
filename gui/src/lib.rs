//! sockscope-gui: the desktop app of sockscope, a live view of the HTTP and WebSocket traffic
//! through the proxy (or of a saved capture).
//!
//! ```text
//! proxy pipeline ─▶ ChannelSink ─▶ (GUI thread, drained within a per-frame budget) ─▶ Store
//! capture file ─▶ capture reader thread ───────────────────────────────────────────▶ Store
//! Store ─▶ RowIndex (filter, incremental) ─▶ views: table · detail · sessions · status
//! ```
//!
//! Module map: [`store`] and [`row`] hold the data (no egui), [`filter`] and [`index`] select
//! rows, [`capture`] reads NDJSON captures, [`app`] is the eframe app and one `view_*` module per
//! view, [`launch`] parses the command line and picks GUI or headless.

pub mod app;
pub mod capture;
pub mod filter;
pub mod index;
pub mod launch;
pub mod row;
pub mod sample;
pub mod status;
pub mod store;
pub mod theme;
pub mod view_detail;
pub mod view_empty;
pub mod view_payload;
pub mod view_sessions;
pub mod view_table;
