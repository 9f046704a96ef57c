//! One line for an error and every cause behind it.
//!
//! Each error type's message names only its own part and keeps its cause as
//! `#[source]`; printing walks the chain once, so no cause is said twice.

/// `error: cause: cause's cause`, on one line.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}
