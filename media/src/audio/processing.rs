//! Voice processing on the capture path: echo cancellation, noise suppression and automatic
//! gain. (Being built.)
