//! merkle (being written)
