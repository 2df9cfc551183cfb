//! WebSocket decoding (placeholder, being written).
