//! Livestage server as a library (being written).
