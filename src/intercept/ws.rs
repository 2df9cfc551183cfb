//! One direction of a WebSocket on the intercept path.
