//! Property: whatever way a phone, card or ID number or a code is written
//! (groups of any size, separators, filler words, full-width digits, Chinese
//! numerals in their spoken and written forms), the masked text keeps no
//! readable run of 7 or more digits and no code after its keyword.

mod reading;

use proptest::prelude::*;
use reading::digit;
use voc_core::pii::mask;

/// How one digit may be written.
fn written(d: u8) -> impl Strategy<Value = String> {
    const ZH: [&[&str]; 10] = [
        &["零", "〇", "洞"],
        &["一", "幺", "壹"],
        &["二", "两", "贰"],
        &["三", "叁"],
        &["四", "肆"],
        &["五", "伍"],
        &["六", "陆"],
        &["七", "柒", "拐"],
        &["八", "捌"],
        &["九", "玖"],
    ];
    let ascii = ((b'0' + d) as char).to_string();
    let full = char::from_u32('０' as u32 + d as u32).unwrap().to_string();
    let mut forms = vec![ascii, full];
    forms.extend(ZH[d as usize].iter().map(|s| s.to_string()));
    prop::sample::select(forms)
}

const SEPARATORS: [&str; 16] = [
    " ", "  ", ",", "，", ".", "-", "—", "、", "\u{3000}", " 嗯 ", " 那个 ", "就是", " 然后 ",
    "呃", " 啊 ", "",
];

/// `digits` written in groups of 1-5 with a separator between groups, each
/// group in one script or digit by digit in mixed scripts.
fn spoken(digits: String) -> impl Strategy<Value = String> {
    let n = digits.len();
    (
        prop::collection::vec(1usize..=5, n),
        prop::collection::vec(prop::sample::select(SEPARATORS.to_vec()), n),
    )
        .prop_flat_map(move |(sizes, seps)| {
            let written: Vec<_> = digits.bytes().map(|b| written(b - b'0')).collect();
            (Just(sizes), Just(seps), written)
        })
        .prop_map(|(sizes, seps, chars)| {
            let mut out = String::new();
            let (mut i, mut g) = (0, 0);
            while i < chars.len() {
                if g > 0 {
                    out.push_str(seps[g]);
                }
                let end = (i + sizes[g]).min(chars.len());
                chars[i..end].iter().for_each(|c| out.push_str(c));
                i = end;
                g += 1;
            }
            out
        })
}

fn phone() -> impl Strategy<Value = String> {
    (3u8..=9, prop::collection::vec(0u8..=9, 9))
        .prop_map(|(second, rest)| format!("1{second}{}", join(&rest)))
}

fn card() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["62", "4", "5"]),
        15usize..=19,
        prop::collection::vec(0u8..=9, 19),
    )
        .prop_map(|(bin, len, rest)| format!("{bin}{}", &join(&rest)[..len - bin.len()]))
}

fn id_card() -> impl Strategy<Value = String> {
    (
        1u8..=8,
        prop::collection::vec(0u8..=9, 5),
        1950u32..2006,
        1u32..=12,
        1u32..=28,
        prop::collection::vec(0u8..=9, 4),
    )
        .prop_map(|(area, a, y, m, d, tail)| {
            format!("{area}{}{y}{m:02}{d:02}{}", join(&a), join(&tail))
        })
}

fn join(d: &[u8]) -> String {
    d.iter().map(|d| (b'0' + d) as char).collect()
}

/// The longest run of digits a reader can still put together: separators
/// and filler words do not interrupt it, anything else does.
fn longest_readable_run(text: &str) -> usize {
    let mut text = text.to_string();
    for filler in ["那个", "就是", "然后", "嗯", "呃", "啊"] {
        text = text.replace(filler, " ");
    }
    let (mut best, mut run) = (0, 0);
    for c in text.chars() {
        if digit(c).is_some() {
            run += 1;
            best = best.max(run);
        } else if !(c.is_whitespace() || ",，.-—、_".contains(c)) {
            run = 0;
        }
    }
    best
}

fn all_digits(text: &str) -> String {
    text.chars().filter_map(digit).collect()
}

const LEAD: [&str; 8] = [
    "我的手机号是",
    "卡号",
    "身份证号码是 ",
    "你记一下啊 ",
    "",
    "麻烦打这个 ",
    "号码：",
    "嗯 就是 ",
];
const TAIL: [&str; 6] = ["", "，麻烦回电", "。", " 对吧", " 谢谢", "（工作日）"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_readable_number_survives(
        number in prop_oneof![phone(), card(), id_card()].prop_flat_map(spoken),
        lead in prop::sample::select(LEAD.to_vec()),
        tail in prop::sample::select(TAIL.to_vec()),
    ) {
        let text = format!("{lead}{number}{tail}");
        let out = mask(&text).text;
        prop_assert!(longest_readable_run(&out) < 7, "{text:?} -> {out:?}");
    }

    #[test]
    fn no_code_survives_its_keyword(
        (keyword, digits, said) in code(),
        intro in prop::sample::select(vec!["是", " ", "：", " 嗯 是 ", " 就是 ", "是 呃 ", "为", ": ", " 那个 "]),
        tail in prop::sample::select(TAIL.to_vec()),
    ) {
        let text = format!("{keyword}{intro}{said}{tail}");
        let out = mask(&text).text;
        prop_assert!(!all_digits(&out).contains(&digits), "{text:?} -> {out:?}");
    }
}

/// A keyword, its code's digits and the code as said.
fn code() -> impl Strategy<Value = (&'static str, String, String)> {
    prop::sample::select(vec![
        ("验证码", 6),
        ("短信验证码", 6),
        ("动态码", 6),
        ("校验码", 6),
        ("短信码", 4),
        ("密码", 6),
        ("交易密码", 6),
        ("取款密码", 6),
        ("支付密码", 6),
        ("CVV", 3),
        ("CVN", 3),
        ("安全码", 3),
        ("PIN", 4),
        ("PIN码", 6),
    ])
    .prop_flat_map(|(k, n)| (Just(k), prop::collection::vec(0u8..=9, n)))
    .prop_flat_map(|(k, d)| {
        let digits = join(&d);
        (Just(k), Just(digits.clone()), spoken(digits))
    })
}
