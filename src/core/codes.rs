//! Code lists (placeholder).
