//! What a failed ClickHouse request means for its rows: retry the same
//! request later (the server is down, slow, overloaded, read-only), or the
//! server refused what the request carries (a value it cannot store, a check
//! it fails, too many partitions in one block) - retrying the same rows can
//! never succeed, so the caller splits them until the refused rows are
//! alone and dead-letters those.
//!
//! Unknown errors are transient: a failure the classifier does not know is
//! retried (and shows in the retry metrics) rather than dead-lettering rows
//! that may be fine. Errors of the schema or the configuration (unknown
//! table or column, bad credentials) are transient too: every row would fail
//! alike, and an operator's fix lets them all through.

use super::SinkError;

/// The answer for one failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Retry the same request after the backoff.
    Retry,
    /// The request timed out: retry, but a request of many rows that keeps
    /// timing out is split (see `split_after_timeouts`).
    TimedOut,
    /// The server refused the rows themselves: never retry them as they are.
    /// The reason is the server's message (not masked: the caller masks it).
    Rejected(String),
}

/// ClickHouse error codes that a row's values cause (the same row is refused
/// again whatever the server's state), by name as in ClickHouse's ErrorCodes.
pub const DATA_ERROR_CODES: &[(u32, &str)] = &[
    (6, "CANNOT_PARSE_TEXT"),
    (25, "CANNOT_PARSE_ESCAPE_SEQUENCE"),
    (26, "CANNOT_PARSE_QUOTED_STRING"),
    (27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED"),
    (38, "CANNOT_PARSE_DATE"),
    (41, "CANNOT_PARSE_DATETIME"),
    (53, "TYPE_MISMATCH"),
    (69, "ARGUMENT_OUT_OF_BOUND"),
    (70, "CANNOT_CONVERT_TYPE"),
    (72, "CANNOT_PARSE_NUMBER"),
    (117, "INCORRECT_DATA"),
    (128, "TOO_LARGE_ARRAY_SIZE"),
    (131, "TOO_LARGE_STRING_SIZE"),
    (190, "SIZES_OF_ARRAYS_DOESNT_MATCH"),
    (321, "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"),
    (395, "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO"),
    (407, "DECIMAL_OVERFLOW"),
    (469, "VIOLATED_CONSTRAINT"),
];

/// TOO_MANY_PARTS (252) means two things: "Too many parts ... merges are
/// processing significantly slower than inserts" (overload: retry) and this
/// one, an insert spanning more partitions than `max_partitions_per_insert_block`
/// (the block's shape: split it).
const TOO_MANY_PARTITIONS: &str = "Too many partitions for single INSERT block";

/// The ClickHouse error code in a server message: 18.16 writes
/// "Code: 395, e.displayText() = ...", current servers "Code: 395. DB::Exception: ...".
pub fn error_code(message: &str) -> Option<u32> {
    let rest = &message[message.find("Code: ")? + 6..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// The verdict for a server's error message.
pub fn classify_message(message: &str) -> Verdict {
    if message.contains(TOO_MANY_PARTITIONS) {
        return Verdict::Rejected(message.to_string());
    }
    match error_code(message) {
        Some(c) if DATA_ERROR_CODES.iter().any(|&(d, _)| d == c) => {
            Verdict::Rejected(message.to_string())
        }
        // TIMEOUT_EXCEEDED: the server's own limit on the request.
        Some(159) => Verdict::TimedOut,
        _ => Verdict::Retry,
    }
}

impl SinkError {
    /// Retry, or are the rows refused? (See the module documentation.)
    pub fn verdict(&self) -> Verdict {
        use clickhouse::error::Error as E;
        match self {
            SinkError::Timeout { .. } => Verdict::TimedOut,
            SinkError::ClickHouse { source, .. } => match source {
                E::BadResponse(message) => classify_message(message),
                E::TimedOut => Verdict::TimedOut,
                // Encoding a row failed on this side: that row's values.
                E::SequenceMustHaveLength
                | E::Custom(_)
                | E::VariantDiscriminatorIsOutOfBound(_) => Verdict::Rejected(source.to_string()),
                _ => Verdict::Retry,
            },
            _ => Verdict::Retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(message: &str) -> SinkError {
        SinkError::ClickHouse {
            url: "http://x".into(),
            source: clickhouse::error::Error::BadResponse(message.into()),
        }
    }

    #[test]
    fn reads_the_code_of_old_and_new_servers() {
        assert_eq!(
            error_code("Code: 395, e.displayText() = DB::Exception: Value passed"),
            Some(395)
        );
        assert_eq!(
            error_code("Code: 469. DB::Exception: Constraint `c` ... (VIOLATED_CONSTRAINT)"),
            Some(469)
        );
        assert_eq!(error_code("503 Service Unavailable"), None);
    }

    #[test]
    fn data_errors_are_rejections_the_rest_is_retried() {
        for m in [
            "Code: 395, e.displayText() = DB::Exception: Value passed to 'throwIf' function is non zero",
            "Code: 469. DB::Exception: Constraint `ok` for table t is violated at row 3",
            "Code: 27. DB::Exception: Cannot parse input: expected '\\t' before: 'x'",
            "Code: 131. DB::Exception: Too large string size.",
            "Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100).",
        ] {
            assert!(matches!(bad(m).verdict(), Verdict::Rejected(_)), "{m}");
        }
        for m in [
            "Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts",
            "Code: 241. DB::Exception: Memory limit (for query) exceeded",
            "Code: 242. DB::Exception: Table is in readonly mode",
            "Code: 999. Coordination::Exception: Session expired",
            "Code: 202. DB::Exception: Too many simultaneous queries",
            "Code: 60, e.displayText() = DB::Exception: Table voc.feedback_events doesn't exist.",
            "Code: 193, e.displayText() = DB::Exception: Wrong password for user default",
            "503 Service Unavailable",
        ] {
            assert_eq!(bad(m).verdict(), Verdict::Retry, "{m}");
        }
        assert_eq!(
            bad("Code: 159. DB::Exception: Timeout exceeded: elapsed 30 seconds").verdict(),
            Verdict::TimedOut
        );
        let timeout = SinkError::Timeout {
            url: "http://x".into(),
            ms: 10,
        };
        assert_eq!(timeout.verdict(), Verdict::TimedOut);
        let network = SinkError::ClickHouse {
            url: "http://x".into(),
            source: clickhouse::error::Error::Network("connection refused".into()),
        };
        assert_eq!(network.verdict(), Verdict::Retry);
    }
}
