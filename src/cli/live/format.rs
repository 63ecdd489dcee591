//! Small text helpers of the views.

use std::time::Duration;

/// `text` and `sep`, or nothing when `text` is empty.
pub(super) fn suffixed(text: &str, sep: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("{text}{sep}")
    }
}

/// `7s`, `1m05s`, `2h03m`.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

/// Exactly `width` columns: padded, or cut with an ellipsis.
pub(super) fn fit(text: &str, width: usize) -> String {
    let text = console::truncate_str(text, width, "…");
    console::pad_str(&text, width, console::Alignment::Left, None).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_secs(7)), "7s");
        assert_eq!(human(Duration::from_secs(65)), "1m05s");
        assert_eq!(human(Duration::from_secs(7380)), "2h03m");
    }
}
