//! Text that upstream chose: `error_code`, `error_msg` and `X-Request-Id`.
//!
//! These reach callers (`ErrorInfo.reason`, the status message,
//! `RequestInfo.request_id`, `x-request-id` metadata) and log lines, so a
//! hostile or broken upstream must not control their size or their bytes: h2
//! sends trailers of any size (PITFALLS.md) and a client refuses ones over its
//! header limit, which turns an ordinary upstream error into a transport
//! failure; and control characters or ANSI escapes in a text log forge lines or
//! repaint the operator's terminal. Every reader of upstream answers (CBR and
//! CSBS in `client.rs` and `dto.rs`, IAM in `iam.rs`) passes these fields
//! through here, once, where they are read.

use reqwest::header::HeaderValue;

/// Longest `error_code` kept (upstream's are like `BackupService.6200`).
pub(crate) const MAX_ERROR_CODE_CHARS: usize = 64;
/// Longest `error_msg` kept. The status message is cut shorter still
/// (`crate::error`); the rest stays for the failure's own uses.
pub(crate) const MAX_ERROR_MSG_CHARS: usize = 512;
/// Longest request id kept (the same bound as a caller's `x-request-id`).
pub(crate) const MAX_REQUEST_ID_CHARS: usize = 128;

/// Marks text that was cut.
const CUT: char = '…';

/// Upstream's `error_code`, cleaned and capped; `None` when nothing is left.
pub(crate) fn error_code(raw: &str) -> Option<String> {
    clean(raw.chars(), MAX_ERROR_CODE_CHARS, Some(CUT))
}

/// Upstream's `error_msg`, cleaned and capped; `None` when nothing is left.
pub(crate) fn error_msg(raw: &str) -> Option<String> {
    clean(raw.chars(), MAX_ERROR_MSG_CHARS, Some(CUT))
}

/// A request id header, cleaned and capped to printable ASCII (so it stays a
/// valid metadata value); `None` when nothing is left, as if it were absent.
/// A cut id is not marked: the mark would not be ASCII, and a prefix of an id
/// is still what a support ticket can search for.
pub(crate) fn request_id(value: &HeaderValue) -> Option<String> {
    let ascii = value
        .as_bytes()
        .iter()
        .map(|&b| if b.is_ascii() { char::from(b) } else { '?' });
    clean(ascii, MAX_REQUEST_ID_CHARS, None).map(|id| id.replace(REPLACEMENT, "?"))
}

const REPLACEMENT: char = char::REPLACEMENT_CHARACTER;

/// What a character may become in a log line or a status: line breaks and
/// tabs a space, other control characters (ESC of ANSI sequences, NUL, C1)
/// and the invisible characters that reorder or hide text (bidirectional
/// overrides, zero-width characters: "Trojan Source") the replacement
/// character, everything else itself.
fn replace(c: char) -> char {
    match c {
        '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => ' ',
        c if c.is_control() => REPLACEMENT,
        '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}' => REPLACEMENT,
        c => c,
    }
}

/// `raw` with [`replace`]d characters, trimmed, and at most `max_chars`
/// characters long (the last one `cut_mark` when it was cut). Reads at most
/// what it keeps, plus leading white space: a megabyte of text costs no more
/// than its first `max_chars` characters.
fn clean(
    raw: impl Iterator<Item = char>,
    max_chars: usize,
    cut_mark: Option<char>,
) -> Option<String> {
    let mut out = String::new();
    let mut cut = false;
    for (kept, c) in raw
        .map(replace)
        .skip_while(|c| c.is_whitespace())
        .enumerate()
    {
        if kept == max_chars {
            cut = true;
            break;
        }
        out.push(c);
    }
    if cut && let Some(mark) = cut_mark {
        out.pop();
        out.truncate(out.trim_end().len());
        out.push(mark);
    } else {
        out.truncate(out.trim_end().len());
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: &[u8]) -> HeaderValue {
        HeaderValue::from_bytes(bytes).unwrap()
    }

    #[test]
    fn ordinary_values_pass_unchanged() {
        assert_eq!(
            error_code("BackupService.6200").as_deref(),
            Some("BackupService.6200")
        );
        assert_eq!(
            error_msg("The backup does not exist. 备份不存在").as_deref(),
            Some("The backup does not exist. 备份不存在")
        );
        assert_eq!(
            request_id(&header(b"3a6f6d4e1c2b4b0d9e8f7a6b5c4d3e2f")).as_deref(),
            Some("3a6f6d4e1c2b4b0d9e8f7a6b5c4d3e2f")
        );
    }

    #[test]
    fn long_values_are_capped_and_marked() {
        let code = error_code(&"C".repeat(1_000_000)).unwrap();
        assert_eq!(code.chars().count(), MAX_ERROR_CODE_CHARS);
        assert!(code.ends_with(CUT) && code.starts_with("CCC"), "{code}");
        let msg = error_msg(&"é".repeat(1_000_000)).unwrap();
        assert_eq!(msg.chars().count(), MAX_ERROR_MSG_CHARS);
        assert!(msg.ends_with(CUT));
        // Exactly at the cap: nothing is cut.
        let at_cap = "m".repeat(MAX_ERROR_MSG_CHARS);
        assert_eq!(error_msg(&at_cap).as_deref(), Some(at_cap.as_str()));
        // Request ids are cut without a mark, so they stay ASCII.
        let id = request_id(&header("r".repeat(100_000).as_bytes())).unwrap();
        assert_eq!(id, "r".repeat(MAX_REQUEST_ID_CHARS));
    }

    #[test]
    fn control_characters_cannot_forge_log_lines() {
        let forged = "bad\r\n2026-01-01T00:00:00Z INFO rpc code=Ok\u{1b}[2J\u{0}\u{9b}31m";
        let msg = error_msg(forged).unwrap();
        assert!(!msg.chars().any(char::is_control), "{msg:?}");
        assert_eq!(
            msg,
            "bad  2026-01-01T00:00:00Z INFO rpc code=Ok\u{fffd}[2J\u{fffd}\u{fffd}31m"
        );
        // Text that reorders or hides what an operator sees.
        let trojan = error_code("E\u{202e}1.ecivreSpukcaB\u{200b}\u{2028}x").unwrap();
        assert_eq!(trojan, "E\u{fffd}1.ecivreSpukcaB\u{fffd} x");
        // Header bytes that are not printable ASCII become '?'.
        let id = request_id(&header(b"req\t-\x80\xff-1")).unwrap();
        assert_eq!(id, "req -??-1");
    }

    #[test]
    fn nothing_left_is_absent() {
        for blank in ["", "   ", "\n\t\r", "\u{2028}"] {
            assert_eq!(error_code(blank), None, "{blank:?}");
            assert_eq!(error_msg(blank), None, "{blank:?}");
        }
        assert_eq!(request_id(&header(b"")), None);
        assert_eq!(request_id(&header(b" \t ")), None);
        // White space is trimmed before the cap counts, and again after a cut.
        let padded = format!("{}x", " ".repeat(1_000_000));
        assert_eq!(error_code(&padded).as_deref(), Some("x"));
        let spaced = format!("{}{}", "a".repeat(MAX_ERROR_CODE_CHARS - 2), " ".repeat(10));
        assert_eq!(
            error_code(&spaced).unwrap(),
            format!("{}{CUT}", "a".repeat(MAX_ERROR_CODE_CHARS - 2))
        );
    }
}
