//! Placeholder on branch `stream` so the crate compiles; the real module lives on `main`.
