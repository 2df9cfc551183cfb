//! Sinks consume the stamped event stream on the pipeline thread: [`ndjson`] writes the lossless
//! capture (a file with `--save`, or stdout with `--json`), [`console`] prints one readable line
//! per event, [`channel`] hands events to another thread without ever blocking: to the GUI, or to
//! a thread running a sink that may block (stdout), so it cannot stall the capture file.

pub mod channel;
pub mod console;
pub mod fastjson;
pub mod ndjson;
