//! Socket.IO decoding (placeholder, being written).
