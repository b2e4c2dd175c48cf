//! The operator console: draws snapshots, turns keys into commands.
