//! PII masking: runs before anything is stored, logged, published or alerted,
//! on normalized text and on raw text alike (dead letters mask the payload as
//! it arrived): detection folds full-width forms and Chinese numerals to
//! digits internally, and the output keeps every unmasked character as it was.
//!
//! Masked, with a placeholder naming the kind:
//! - numbers people read out or type in groups, with separators or filler
//!   words between the groups (`138，1234，5678`, `一三八 嗯 一二三四 那个
//!   五六七八`, `138.1234.5678`), in any mix of ASCII, full-width and Chinese
//!   numerals (`幺` 1, `两` 2, `〇`, `壹贰叁`): mobile and landline numbers,
//!   18-character ID cards (check letter X, x or 叉), bank cards (15-19
//!   digits), and any other run of 7 or more digits that is not an amount, a
//!   date, a version or a reference;
//! - e-mail addresses, typed or spoken (`zhang san at qq dot com`,
//!   `zhangsan艾特163点com`);
//! - codes, passwords, CVV and PINs after their keyword (`验证码是 幺二三四五六`,
//!   `密码 就是我生日 一九九零 零三 零七`) or just before it
//!   (`六六八八九九 就是我的取款密码`); QQ and WeChat accounts and passport
//!   numbers after theirs.
//!
//! Not masked: amounts, dates, times, durations, rates, counts, versions,
//! hotlines (`转了8万`, `2024-03-05 10:03`, `等了40分钟`, `年化3.5%`,
//! `8.2.1版本`, `400-820-8820`), identifiers with letters (`WO-20241124-0031`,
//! `C1001234`) and the keywords themselves without a secret (`验证码一直收不到`).
//! docs/pii.md has the measured recall and false-masking rate.

mod digits;
mod email;
mod fold;
mod keywords;
mod shape;

use std::ops::Range;

/// The kinds of PII the masker recognizes, also the placeholder in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PiiKind {
    Phone,
    IdCard,
    BankCard,
    Email,
    Number,
    /// A verification code, password, CVV or PIN.
    Code,
    /// A QQ or WeChat account.
    Account,
}

impl PiiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Phone => "phone",
            PiiKind::IdCard => "id_card",
            PiiKind::BankCard => "bank_card",
            PiiKind::Email => "email",
            PiiKind::Number => "number",
            PiiKind::Code => "code",
            PiiKind::Account => "account",
        }
    }

    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Phone => "[PHONE]",
            PiiKind::IdCard => "[ID]",
            PiiKind::BankCard => "[CARD]",
            PiiKind::Email => "[EMAIL]",
            PiiKind::Number => "[NUMBER]",
            PiiKind::Code => "[CODE]",
            PiiKind::Account => "[ACCOUNT]",
        }
    }

    pub const ALL: [PiiKind; 7] = [
        PiiKind::Phone,
        PiiKind::IdCard,
        PiiKind::BankCard,
        PiiKind::Email,
        PiiKind::Number,
        PiiKind::Code,
        PiiKind::Account,
    ];

    /// Whether `token` is a placeholder's word as the segmenter cuts it
    /// (`[PHONE]` -> `PHONE`), or the whole placeholder.
    pub fn is_placeholder_token(token: &str) -> bool {
        let word = token.trim_start_matches('[').trim_end_matches(']');
        PiiKind::ALL
            .iter()
            .any(|k| &k.placeholder()[1..k.placeholder().len() - 1] == word)
    }
}

/// Masked text and the kinds of PII found (sorted, deduplicated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub text: String,
    pub kinds: Vec<PiiKind>,
}

/// Something to mask: a byte range of the folded text.
#[derive(Debug, Clone)]
struct Span {
    at: Range<usize>,
    kind: PiiKind,
}

pub fn mask(text: &str) -> Masked {
    let unchanged = || Masked {
        text: text.to_string(),
        kinds: Vec::new(),
    };
    // Fast path: most feedback has no digits, numerals or at-sign to speak of.
    if !fold::worth_scanning(text) {
        return unchanged();
    }
    let f = fold::Folded::new(text);
    let mut spans = Vec::new();
    if f.text.contains('@') || fold::spoken_at(&f.text) {
        email::find(&f, &mut spans);
    }
    let covered: Vec<Range<usize>> = spans.iter().map(|s: &Span| s.at.clone()).collect();
    let runs = digits::runs(&f, &covered);
    let mut taken: Vec<Vec<bool>> = runs.iter().map(|r| vec![false; r.groups.len()]).collect();
    keywords::find(&f, &runs, &mut taken, &mut spans);
    shape::bridge(&f, &runs, &mut taken, &mut spans);
    for (run, taken) in runs.iter().zip(&taken) {
        shape::classify(&f, run, taken, &mut spans);
    }
    if spans.is_empty() {
        return unchanged();
    }
    spans.sort_by_key(|s| (s.at.start, std::cmp::Reverse(s.at.end)));
    let mut out = String::with_capacity(text.len());
    let mut kinds = Vec::new();
    let mut done = 0;
    for s in spans {
        let mut at = f.original(s.at);
        if s.kind == PiiKind::Phone && text[..at.start].ends_with(['+', '＋']) {
            at.start -= text[..at.start]
                .chars()
                .next_back()
                .map_or(0, char::len_utf8);
        }
        if at.start < done {
            continue;
        }
        out.push_str(&text[done..at.start]);
        out.push_str(s.kind.placeholder());
        kinds.push(s.kind);
        done = at.end;
    }
    out.push_str(&text[done..]);
    kinds.sort();
    kinds.dedup();
    Masked { text: out, kinds }
}

/// True when `text` still contains something the masker would mask; used to
/// pseudonymize identity keys and by tests as an independent leak check.
pub fn contains_pii(text: &str) -> bool {
    !mask(text).kinds.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> String {
        mask(s).text
    }

    #[test]
    fn masks_mobile_numbers_in_every_written_form() {
        assert_eq!(m("我手机13812345678打不通"), "我手机[PHONE]打不通");
        assert_eq!(m("回电138 1234 5678谢谢"), "回电[PHONE]谢谢");
        assert_eq!(m("号码是138-1234-5678"), "号码是[PHONE]");
        assert_eq!(m("+8613812345678"), "[PHONE]");
        assert_eq!(
            m("嗯 我的号码是幺三八一二三四五六七八"),
            "嗯 我的号码是[PHONE]"
        );
        assert_eq!(m("座机021-62345678"), "座机[PHONE]");
    }

    #[test]
    fn masks_id_cards_and_bank_cards() {
        assert_eq!(m("身份证110101199003074514办不了"), "身份证[ID]办不了");
        assert_eq!(m("身份证号11010119900307451X"), "身份证号[ID]");
        assert_eq!(m("卡号6222 0212 3456 7890 123被冻结"), "卡号[CARD]被冻结");
        assert_eq!(m("卡号6222021234567890"), "卡号[CARD]");
        let r = mask("卡6222021234567890，电话13812345678");
        assert_eq!(r.kinds, vec![PiiKind::Phone, PiiKind::BankCard]);
    }

    #[test]
    fn masks_email_addresses() {
        assert_eq!(m("发到zhang.san@example.com.cn了"), "发到[EMAIL]了");
        // ASR renders the dots as spaces or 点, and @ as 艾特.
        assert_eq!(
            m("邮箱 user52277@example com。请回复"),
            "邮箱 [EMAIL]。请回复"
        );
        assert_eq!(m("邮箱是 wang 艾特 qq 点 com 谢谢"), "邮箱是 [EMAIL] 谢谢");
    }

    #[test]
    fn masks_numbers_read_out_in_groups_with_fillers() {
        assert_eq!(m("我的手机号是138，1234，5678"), "我的手机号是[PHONE]");
        assert_eq!(m("一三八 嗯 一二三四 那个 五六七八"), "[PHONE]");
        assert_eq!(m("号码138.1234.5678"), "号码[PHONE]");
        assert_eq!(m("电话 一八六、零零一二、三四五六"), "电话 [PHONE]");
        assert_eq!(
            m("号码 一三八 后面是 一二三四 再后面 五六七八"),
            "号码 [PHONE]"
        );
        assert_eq!(m("手机１３８ １２３４ ５６７８。"), "手机[PHONE]。");
        assert_eq!(m("打 幺五零 两两三三 壹贰叁肆"), "打 [PHONE]");
        assert_eq!(m("家里电话 六二三四 五六七八"), "家里电话 [NUMBER]");
    }

    #[test]
    fn masks_cards_and_ids_in_groups_and_spoken() {
        assert_eq!(m("卡号 六二二二 零二一二 三四五六 七八九零"), "卡号 [CARD]");
        assert_eq!(m("卡号6230.5800.0012.3456.789"), "卡号[CARD]");
        assert_eq!(m("身份证 4403 0619 9001 0112 3X"), "身份证 [ID]");
        assert_eq!(
            m("身份证 三二零一 零二 一九八五 一二 三一 零零二 叉"),
            "身份证 [ID]"
        );
        assert_eq!(m("身份证是 330106-19921225-0018"), "身份证是 [ID]");
    }

    #[test]
    fn masks_codes_after_their_keyword() {
        assert_eq!(m("验证码是 幺二三四五六"), "验证码是 [CODE]");
        assert_eq!(m("验证码 嗯 是 八 七 六 五 四 三"), "验证码 嗯 是 [CODE]");
        assert_eq!(m("交易密码 就是 幺三五七九零"), "交易密码 就是 [CODE]");
        assert_eq!(m("登录密码是 zhang1988"), "登录密码是 [CODE]");
        assert_eq!(m("CVV2: 845"), "CVV2: [CODE]");
        assert_eq!(m("PIN是 7 3 3 1"), "PIN是 [CODE]");
        assert_eq!(m("查询密码 呃 六个八"), "查询密码 呃 [CODE]");
        assert_eq!(
            m("六六八八九九 就是我的取款密码"),
            "[CODE] 就是我的取款密码"
        );
        let r = mask("验证码 662190 13812345678");
        assert_eq!(r.text, "验证码 [CODE] [PHONE]");
        assert_eq!(r.kinds, vec![PiiKind::Phone, PiiKind::Code]);
    }

    #[test]
    fn keywords_without_a_secret_mask_nothing() {
        for s in [
            "验证码一直收不到，等了5分钟",
            "密码输错3次被锁了",
            "短信验证码60秒才能重发一次",
            "支付密码是6位数字",
            "CVV是卡背面那三位吗",
            "密码没问题，转账5000一直失败",
            "PIN码忘了，怎么重置",
        ] {
            assert_eq!(m(s), s);
        }
    }

    #[test]
    fn masks_typed_email_with_a_filler_for_the_dot() {
        for t in [
            "就是说 邮箱 user29441@example 对对对 com。太让人寒心了",
            "邮箱 user3603@example 那个 com。五星好评",
            "邮箱 user98797@example 呃 那个 com。怎么说呢 期待后续",
            "邮箱是 wang@icbc 嗯 com 点 cn",
        ] {
            let m = mask(t);
            assert!(
                !m.text.contains("user") && !m.text.contains("wang"),
                "{t} -> {}",
                m.text
            );
            assert!(m.kinds.contains(&PiiKind::Email), "{t}");
        }
        // Without a typed at-sign, words before "com" are just words.
        assert_eq!(
            mask("我们公司 那个 com 结尾的网站").text,
            "我们公司 那个 com 结尾的网站"
        );
    }

    #[test]
    fn masks_spoken_and_full_width_email() {
        assert_eq!(m("邮箱是 zhang san at qq dot com"), "邮箱是 [EMAIL]");
        assert_eq!(m("zhangsan艾特163点com"), "[EMAIL]");
        assert_eq!(m("发我 lisi_1990＠１２６．com"), "发我 [EMAIL]");
        assert_eq!(m("发到 zhaoliu圈a163点com"), "发到 [EMAIL]");
    }

    #[test]
    fn masks_raw_text_and_keeps_the_rest_as_it_was() {
        // Traditional characters, full-width punctuation: untouched around the mask.
        assert_eq!(
            m("手機號碼：１３８－１２３４－５６７８，謝謝！"),
            "手機號碼：[PHONE]，謝謝！"
        );
        // A raw JSON payload writes characters as escapes.
        assert_eq!(
            m(
                r#"{"text":"\u624b\u673a\u4e00\u4e09\u516b\u4e00\u4e8c\u4e09\u56db\u4e94\u516d\u4e03\u516b"}"#
            ),
            r#"{"text":"\u624b\u673a[PHONE]"}"#
        );
    }

    #[test]
    fn leaves_ordinary_numbers_alone() {
        for s in [
            "转账5000元两天没到",
            "转了8万",
            "等了45分钟",
            "2024年3月5日",
            "下午3点20",
            "年化3.5%",
            "8.2版本",
            "第三季度",
            "两三个月",
            "2026-11-24 10:03:05办的业务",
            "App 8.2.1版本闪退",
            "周一二三都排长队，七八个人",
            "单日限额才50000",
            "前面还有38位",
            "余额宝转出1,250,000元",
            "转了100000一直没到账",
            "工单WO-20241124-0031",
            "拨打400-820-8820没人接",
            "版本号v8.3.12.1024",
            "pii:1234567890123456",
            "pii:a123456789012345",
        ] {
            assert_eq!(m(s), s, "{s}");
            assert!(!contains_pii(s));
        }
    }
}
