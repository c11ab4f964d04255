//! block (being written)
