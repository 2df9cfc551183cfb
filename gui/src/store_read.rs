//! Reading the store: rows by ordinal or sequence number, their previews and names, the full
//! events and payloads still kept, the connections, exchanges and sessions, gaps, statistics
//! and memory use.

use super::*;

impl Store {
    /// When each rule was active, for the timelines' fault bands.
    pub fn faults(&self) -> &crate::fault_bands::FaultLog {
        &self.faults
    }

    pub fn config(&self) -> StoreConfig {
        self.cfg
    }

    /// Bumped by [`Store::clear`], so indexes over the rows know to start over.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The highest sequence number taken in (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The events missing behind the gap row that starts at this sequence number.
    pub fn gap(&self, seq: u64) -> Option<u64> {
        self.gaps.get(&seq).copied()
    }

    /// The gap rows in memory, oldest first: (first missing sequence number, events missing).
    pub fn gaps(&self) -> impl DoubleEndedIterator<Item = (u64, u64)> + '_ {
        self.gaps.iter().map(|(&s, &n)| (s, n))
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Rows in memory.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Ordinal of the oldest row in memory.
    pub fn first_ordinal(&self) -> u64 {
        self.first_ordinal
    }

    /// One past the ordinal of the newest row.
    pub fn end_ordinal(&self) -> u64 {
        self.first_ordinal + self.rows.len() as u64
    }

    /// The row with this ordinal, if still in memory.
    pub fn row(&self, ordinal: u64) -> Option<&Row> {
        let i = ordinal.checked_sub(self.first_ordinal)?;
        self.rows.get(usize::try_from(i).ok()?)
    }

    /// The ordinal of the row with this sequence number.
    pub fn ordinal_of_seq(&self, seq: u64) -> Option<u64> {
        let i = self.rows.binary_search_by_key(&seq, |r| r.seq).ok()?;
        Some(self.first_ordinal + i as u64)
    }

    /// One past the ordinal of the last row with a sequence number up to `seq`.
    pub fn end_of_seq(&self, seq: u64) -> u64 {
        self.first_ordinal + self.rows.partition_point(|r| r.seq <= seq) as u64
    }

    /// A row's one-line preview.
    pub fn preview(&self, row: &Row) -> &str {
        self.text.get(row.text)
    }

    /// The name behind an interned symbol (`""` for none).
    pub fn sym(&self, s: Sym) -> &str {
        self.symbols.name(s)
    }

    /// The symbol of a name, if any row uses it.
    pub fn lookup_sym(&self, name: &str) -> Option<Sym> {
        self.symbols.lookup(name)
    }

    /// The rows' badges: what the acting path did to them.
    pub fn badges(&self) -> &crate::badges::Badges {
        &self.badges
    }

    /// The session layer: clients, sessions, heartbeats, reconnects, ack pairs.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The full event with this sequence number, while it is within the payload budget.
    pub fn event(&self, seq: u64) -> Option<&Event> {
        let i = self.events.binary_search_by_key(&seq, |e| e.seq).ok()?;
        self.events.get(i)
    }

    /// The full events in memory, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }

    /// The payload behind a row (message, control frame, Engine.IO packet, or the HTTP body of a
    /// request or response row), while it is in memory.
    pub fn payload(&self, row: &Row) -> Option<&Payload> {
        let seq = match row.kind {
            RowKind::HttpRequest | RowKind::HttpResponse => {
                let dir = row.dir?;
                self.exchanges.get(&row.exchange)?.bodies[dir.index()]?
            }
            _ => row.seq,
        };
        match &self.event(seq)?.kind {
            EventKind::WsMessage(m) => Some(&m.payload),
            EventKind::WsControl(c) => Some(&c.payload),
            EventKind::HttpBody { payload, .. } => Some(payload),
            EventKind::EioPacket(p) => Some(&p.payload),
            _ => None,
        }
    }

    pub fn exchange(&self, id: ExchangeId) -> Option<&ExchangeInfo> {
        self.exchanges.get(&id)
    }

    pub fn conns(&self) -> &BTreeMap<ConnId, ConnInfo> {
        &self.conns
    }

    /// Approximate bytes in use.
    pub fn memory(&self) -> MemoryUse {
        MemoryUse {
            rows: self.rows.capacity() * std::mem::size_of::<Row>(),
            previews: self.text.bytes(),
            events: self.event_bytes,
            sessions: self.sessions.bytes()
                + self.symbols.bytes()
                + self.conns.len() * (std::mem::size_of::<ConnInfo>() + 96)
                + self.exchanges.len() * (std::mem::size_of::<ExchangeInfo>() + 16),
        }
    }
}
