//! Livestage media (filled in by the media work).
