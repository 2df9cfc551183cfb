//! Unit tests of the rule language: parsing (the examples, every error with its
//! column, values, modifiers, files), printing (round trips, a property test over generated
//! rules), refusals, and matching live units layer by layer (`could_match` too).

mod alloc;
mod errors;
mod live;
mod parsing;
mod roundtrip;
