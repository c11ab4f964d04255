//! A witness node (to be written).
