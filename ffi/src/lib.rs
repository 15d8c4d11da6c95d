//! C ABI over the Livestage client engine (work in progress).
