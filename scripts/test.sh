#!/usr/bin/env bash
# The whole test suite (placeholder until the peers land): unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
