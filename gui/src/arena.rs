//! The store's text arena: row previews packed into 1 MiB chunks, dropped whole once no row
//! refers to them (rows are evicted oldest first, so chunks are too).

use crate::row::TextRef;
use std::collections::VecDeque;

const CHUNK: usize = 1 << 20;

/// Preview texts, packed into 1 MiB chunks dropped whole once no row refers to them.
#[derive(Default)]
pub struct TextArena {
    chunks: VecDeque<String>,
    first: u32,
}

impl TextArena {
    pub fn push(&mut self, s: &str) -> TextRef {
        let need_new = self.chunks.back().is_none_or(|c| c.len() + s.len() > CHUNK);
        if need_new {
            self.chunks
                .push_back(String::with_capacity(CHUNK.max(s.len())));
        }
        let chunk_no = self.first + self.chunks.len() as u32 - 1;
        let Some(c) = self.chunks.back_mut() else {
            return TextRef::default();
        };
        let start = c.len() as u32;
        c.push_str(s);
        TextRef {
            chunk: chunk_no,
            start,
            len: s.len() as u32,
        }
    }

    pub fn get(&self, r: TextRef) -> &str {
        let Some(idx) = r.chunk.checked_sub(self.first) else {
            return "";
        };
        self.chunks
            .get(idx as usize)
            .and_then(|c| c.get(r.start as usize..(r.start + r.len) as usize))
            .unwrap_or("")
    }

    pub fn drop_before(&mut self, chunk: u32) {
        while self.first < chunk && self.chunks.len() > 1 {
            self.chunks.pop_front();
            self.first += 1;
        }
    }

    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(String::capacity).sum()
    }
}
