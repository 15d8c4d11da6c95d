//! Bevy plugin for Livestage (skeleton).
