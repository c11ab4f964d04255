//! encoding (being written)
