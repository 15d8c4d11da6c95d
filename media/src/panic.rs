//! What a caught panic said, for reports about app code (hooks, renderers) that panicked.

use std::any::Any;

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`), or a note that
/// it carried something else.
pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".into())
}
