//! Engine.IO decoding (placeholder, being written).
