//! How a reader of masked text reads digits, shared by the PII tests: the
//! tests' own table, independent of the masker's.

/// The digit a character reads as, whatever its script.
pub fn digit(c: char) -> Option<char> {
    const ZH: [&str; 10] = [
        "零〇洞",
        "一幺壹",
        "二两贰",
        "三叁",
        "四肆",
        "五伍",
        "六陆",
        "七柒拐",
        "八捌",
        "九玖",
    ];
    if c.is_ascii_digit() {
        return Some(c);
    }
    if ('０'..='９').contains(&c) {
        return char::from_u32(c as u32 - '０' as u32 + '0' as u32);
    }
    ZH.iter()
        .position(|s| s.contains(c))
        .map(|d| (b'0' + d as u8) as char)
}
