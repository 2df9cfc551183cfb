//! Socket.IO for captures made without the session stage: a [`Deriver`] passes a capture's
//! records through and, when the capture holds raw records only, runs the core's
//! [`SocketIoStage`] (as `sockscope inspect` does, with time from the records' `mono_us`) so the
//! decoded packets, sessions, heartbeats and reconnects still show.
//!
//! Whether the capture has the stage's records is decided at the first moment it matters: when
//! the stage first derives something from a raw record, the records that follow that raw record
//! in the file are looked at. A capture made with the stage has its own derived records right
//! there (the proxy writes them right after their cause): then the GUI's stage is dropped and
//! the file's records are shown as they are. Otherwise the GUI's records are kept, and from that
//! point every record is renumbered (`seq` shifted) so the derived ones fit in between; the
//! status bar says so.

use crate::row_session::is_session_record;
use sockscope::event::{ConnId, Event, EventKind};
use sockscope::pipeline::Stage;
use sockscope::session::{SocketIoStage, StageConfig};

/// How often the stage is ticked (in the records' time), as `sockscope inspect` does.
const TICK_US: u64 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// No session record seen or derived yet.
    Undecided,
    /// The GUI derives the session records.
    Own,
    /// The capture has its own session records.
    File,
}

/// True for records the session stage writes (its anomalies included).
pub fn is_stage_record(kind: &EventKind) -> bool {
    match kind {
        EventKind::Anomaly { layer, .. } => layer == "eio" || layer == "sio",
        k => is_session_record(k),
    }
}

/// Passes records through, deriving the session stage's records when the capture lacks them.
pub struct Deriver {
    stage: Option<SocketIoStage>,
    mode: Mode,
    /// What the stage derived from the record that first gave something, awaiting the decision.
    held: Vec<(ConnId, EventKind)>,
    held_at: (i64, u64),
    /// Added to the file's `seq` in [`Mode::Own`].
    offset: u64,
    last_seq: u64,
    last_tick: Option<u64>,
    now: u64,
    /// `ts - mono_us` of the latest record (wall time of tick-derived records).
    wall_offset: i64,
    out: Vec<(ConnId, EventKind)>,
    /// Session records of the file dropped because the GUI derives its own.
    pub skipped: u64,
}

impl Default for Deriver {
    fn default() -> Self {
        Deriver::new()
    }
}

impl Deriver {
    pub fn new() -> Deriver {
        Deriver {
            stage: Some(SocketIoStage::new(StageConfig::default())),
            mode: Mode::Undecided,
            held: Vec::new(),
            held_at: (0, 0),
            offset: 0,
            last_seq: 0,
            last_tick: None,
            now: 0,
            wall_offset: 0,
            out: Vec::new(),
            skipped: 0,
        }
    }

    /// `Some(true)` once the GUI is deriving the session records itself, `Some(false)` once the
    /// capture turned out to have its own, `None` while undecided.
    pub fn deriving(&self) -> Option<bool> {
        match self.mode {
            Mode::Undecided => None,
            Mode::Own => Some(true),
            Mode::File => Some(false),
        }
    }

    fn emit_derived(
        &mut self,
        conn: ConnId,
        kind: EventKind,
        ts: i64,
        mono_us: u64,
        emit: &mut Vec<Event>,
    ) {
        self.offset += 1;
        self.last_seq += 1;
        emit.push(Event {
            seq: self.last_seq,
            ts,
            mono_us,
            conn,
            kind,
        });
    }

    fn decide_own(&mut self, emit: &mut Vec<Event>) {
        self.mode = Mode::Own;
        let (ts, mono) = self.held_at;
        for (conn, kind) in std::mem::take(&mut self.held) {
            self.emit_derived(conn, kind, ts, mono, emit);
        }
    }

    /// One record of the capture, in file order; what to show is appended to `emit`.
    pub fn push(&mut self, mut ev: Event, emit: &mut Vec<Event>) {
        if is_stage_record(&ev.kind) {
            match self.mode {
                Mode::Undecided => {
                    self.mode = Mode::File;
                    self.held.clear();
                    self.stage = None;
                }
                Mode::Own => {
                    self.skipped += 1;
                    return;
                }
                Mode::File => {}
            }
            emit.push(ev);
            return;
        }
        if self.mode == Mode::Undecided && !self.held.is_empty() {
            self.decide_own(emit);
        }
        if self.stage.is_none() {
            emit.push(ev);
            return;
        }
        self.wall_offset = ev.ts - ev.mono_us as i64;
        self.now = self.now.max(ev.mono_us);
        let mut out = std::mem::take(&mut self.out);
        let due = match self.last_tick {
            Some(t) => self.now >= t.saturating_add(TICK_US),
            None => {
                self.last_tick = Some(self.now);
                false
            }
        };
        if due && let Some(stage) = self.stage.as_mut() {
            stage.tick(self.now, &mut out);
            self.last_tick = Some(self.now);
        }
        // Deadlines that passed come before the record that moved time forward.
        if self.mode == Mode::Own {
            let (ts, mono) = (self.now as i64 + self.wall_offset, self.now);
            for (conn, kind) in out.drain(..) {
                self.emit_derived(conn, kind, ts, mono, emit);
            }
        }
        out.clear();
        ev.seq += self.offset;
        self.last_seq = self.last_seq.max(ev.seq);
        let (ts, mono) = (ev.ts, ev.mono_us);
        if let Some(stage) = self.stage.as_mut() {
            stage.process(&ev, &mut out);
        }
        emit.push(ev);
        match self.mode {
            Mode::Own => {
                for (conn, kind) in out.drain(..) {
                    self.emit_derived(conn, kind, ts, mono, emit);
                }
            }
            Mode::Undecided if !out.is_empty() => {
                self.held = std::mem::take(&mut out);
                self.held_at = (ts, mono);
            }
            _ => out.clear(),
        }
        self.out = out;
    }

    /// The end of the capture: pending decisions are made and the stage's deadlines up to the
    /// last record fire.
    pub fn finish(&mut self, emit: &mut Vec<Event>) {
        if self.mode == Mode::Undecided && !self.held.is_empty() {
            self.decide_own(emit);
        }
        if self.mode != Mode::Own {
            return;
        }
        let Some(stage) = self.stage.as_mut() else {
            return;
        };
        let mut out = std::mem::take(&mut self.out);
        stage.tick(self.now, &mut out);
        let (ts, mono) = (self.now as i64 + self.wall_offset, self.now);
        for (conn, kind) in out.drain(..) {
            self.emit_derived(conn, kind, ts, mono, emit);
        }
        self.out = out;
    }
}
