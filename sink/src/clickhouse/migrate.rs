//! Versioned, idempotent ClickHouse migrations (`voc schema migrate`).
//!
//! Each migration is a file under sink/schema/ named `NNN_name.sql`;
//! they run in name order and each applied one is recorded in
//! `{db}.schema_migrations` (name, variant, checksum, applied_at, server
//! version), so a later run skips it. A migration may come in several
//! *variants*: the same name with a header `-- voc:min_server MAJOR.MINOR`
//! (e.g. LowCardinality or TTL on a newer server). The runner picks the
//! variant with the highest `min_server` the server satisfies (a file without
//! the header is the portable one, min 0.0), logs which one ran and records
//! it. An applied migration whose recorded variant's text changed since is an
//! error: a schema must never silently differ from what the files say.
//!
//! Statements inside a file are separated by `;` at the end of a line
//! (ClickHouse's HTTP interface takes one statement per request); `{db}` is
//! replaced by the configured database.

use std::fmt;

/// The header that marks a version-gated variant.
pub const MIN_SERVER_HEADER: &str = "-- voc:min_server";

/// A ClickHouse server version, compared by (major, minor, patch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        ServerVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parse what `SELECT version()` answers: `18.16.1`, `24.8.4.13`,
    /// `25.3.2.39-lts`; missing parts are 0, a build suffix is ignored.
    pub fn parse(s: &str) -> Option<ServerVersion> {
        let core = s.trim().split(['-', ' ', '+']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.trim().parse().ok()?;
        let mut next = || -> Option<u32> {
            match parts.next() {
                None => Some(0),
                Some(p) => p.trim().parse().ok(),
            }
        };
        let minor = next()?;
        let patch = next()?;
        Some(ServerVersion::new(major, minor, patch))
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One variant of a migration: its SQL and the oldest server it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub sql: &'static str,
    /// `None` for the portable variant (runs everywhere).
    pub min_server: Option<ServerVersion>,
}

impl Variant {
    pub fn new(sql: &'static str) -> Result<Variant, MigrationError> {
        Ok(Variant {
            sql,
            min_server: min_server_of(sql)?,
        })
    }

    /// How the migrations table names this variant: `portable` or `min_server 20.1.0`.
    pub fn label(&self) -> String {
        match self.min_server {
            None => "portable".into(),
            Some(v) => format!("min_server {v}"),
        }
    }

    /// XXH3-64 of the statements without their comments, hex; recorded
    /// when applied, checked after. Editing a comment keeps it.
    pub fn checksum(&self) -> String {
        let code = scan_statements(self.sql, Comments::Drop).join(";\n");
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(code.as_bytes()))
    }

    /// Whether `recorded` (from the migrations table) is this variant's
    /// checksum: the current one, or the whole-text checksum that earlier
    /// versions recorded, of this text or of an earlier text of `name` that
    /// differed only in comments.
    pub fn matches(&self, name: &str, recorded: &str) -> bool {
        recorded == self.checksum()
            || recorded == format!("{:016x}", xxhash_rust::xxh3::xxh3_64(self.sql.as_bytes()))
            || (self.min_server.is_none() && COMMENT_EDITS.contains(&(name, recorded)))
    }

    /// The statements for `database`, in order.
    pub fn statements(&self, database: &str) -> Vec<String> {
        split_statements(self.sql)
            .into_iter()
            .map(|s| s.replace("{db}", database))
            .collect()
    }
}

/// Whole-text checksums recorded by earlier versions for portable variants
/// whose comments were edited since (the statements are unchanged).
const COMMENT_EDITS: &[(&str, &str)] = &[
    ("020_alerts", "631b568769b1171d"),
    ("021_alert_occurrences", "f7c58f6dbb235340"),
    ("022_negative_touches", "d3fba553193ac974"),
    ("024_tag_minute", "8375d42de5268f5e"),
    ("026_work_order_updates", "c4536cde8708d8f5"),
    ("027_alert_deliveries", "fd3e808627c56a48"),
];

/// A named migration with one or more variants.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    pub name: &'static str,
    pub variants: Vec<Variant>,
}

impl Migration {
    /// The variant to run on `server`: the highest `min_server` it satisfies.
    pub fn select(&self, server: ServerVersion) -> Result<&Variant, MigrationError> {
        self.variants
            .iter()
            .filter(|v| v.min_server.is_none_or(|m| m <= server))
            .max_by(|a, b| a.min_server.cmp(&b.min_server))
            .ok_or_else(|| MigrationError::NoVariant {
                name: self.name.into(),
                server,
            })
    }

    /// The variant recorded by an earlier run, by its label.
    pub fn variant(&self, label: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.label() == label)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration {name}: bad `{MIN_SERVER_HEADER}` header {header:?} (want e.g. `{MIN_SERVER_HEADER} 20.1`)")]
    BadHeader { name: String, header: String },
    #[error("migration {name}: no variant runs on ClickHouse {server} (add a portable variant without a `{MIN_SERVER_HEADER}` header)")]
    NoVariant { name: String, server: ServerVersion },
    #[error("migration {name}: two variants with the same `{MIN_SERVER_HEADER}` ({label})")]
    DuplicateVariant { name: String, label: String },
    #[error(
        "migration {name} ({variant}) was applied on {applied_at} with checksum {applied}, \
         but its file now has checksum {now}: applied migrations must not change. \
         Revert the edit and add a new migration (NNN_name.sql) instead"
    )]
    ChecksumChanged {
        name: String,
        variant: String,
        applied_at: String,
        applied: String,
        now: String,
    },
    #[error(
        "migration {name} was applied as variant {variant:?}, which no file provides any more"
    )]
    VariantGone { name: String, variant: String },
}

fn min_server_of(sql: &'static str) -> Result<Option<ServerVersion>, MigrationError> {
    for line in sql.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix(MIN_SERVER_HEADER) {
            return ServerVersion::parse(rest)
                .map(Some)
                .ok_or_else(|| MigrationError::BadHeader {
                    name: sql.lines().next().unwrap_or("").into(),
                    header: line.into(),
                });
        }
        if !line.is_empty() && !line.starts_with("--") {
            break; // the header belongs to the leading comment block
        }
    }
    Ok(None)
}

/// Group `(name, sql)` entries (several with one name = variants), in name order.
pub fn migrations(
    entries: &[(&'static str, &'static str)],
) -> Result<Vec<Migration>, MigrationError> {
    let mut out: Vec<Migration> = Vec::new();
    for (name, sql) in entries {
        let v = Variant::new(sql).map_err(|e| match e {
            MigrationError::BadHeader { header, .. } => MigrationError::BadHeader {
                name: name.to_string(),
                header,
            },
            e => e,
        })?;
        match out.iter_mut().find(|m| m.name == *name) {
            Some(m) => {
                if m.variants.iter().any(|o| o.min_server == v.min_server) {
                    return Err(MigrationError::DuplicateVariant {
                        name: name.to_string(),
                        label: v.label(),
                    });
                }
                m.variants.push(v);
            }
            None => out.push(Migration {
                name,
                variants: vec![v],
            }),
        }
    }
    out.sort_by(|a, b| a.name.cmp(b.name));
    Ok(out)
}

/// A row of `schema_migrations` as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub name: String,
    pub variant: String,
    pub checksum: String,
    pub applied_at: String,
    pub server_version: String,
}

/// What to do with one migration, given what was applied before.
#[derive(Debug, PartialEq)]
pub enum Step<'a> {
    /// Not applied yet: run this variant.
    Apply(&'a Variant),
    /// Applied and unchanged. `newer` is set when the server would now pick
    /// another variant: it is NOT applied (that would be a silent change).
    Skip { newer: Option<&'a Variant> },
}

/// Decide the step for `m`; an applied migration whose text changed is an error.
pub fn plan<'a>(
    m: &'a Migration,
    applied: Option<&Applied>,
    server: ServerVersion,
) -> Result<Step<'a>, MigrationError> {
    let chosen = m.select(server)?;
    let Some(a) = applied else {
        return Ok(Step::Apply(chosen));
    };
    let recorded = m
        .variant(&a.variant)
        .ok_or_else(|| MigrationError::VariantGone {
            name: m.name.into(),
            variant: a.variant.clone(),
        })?;
    if !recorded.matches(m.name, &a.checksum) {
        return Err(MigrationError::ChecksumChanged {
            name: m.name.into(),
            variant: a.variant.clone(),
            applied_at: a.applied_at.clone(),
            applied: a.checksum.clone(),
            now: recorded.checksum(),
        });
    }
    Ok(Step::Skip {
        newer: (chosen != recorded).then_some(chosen),
    })
}

/// Split a file into statements at `;` outside quotes and comments.
pub fn split_statements(sql: &str) -> Vec<String> {
    scan_statements(sql, Comments::Keep)
}

/// What [`scan_statements`] does with `--` comments.
#[derive(Clone, Copy, PartialEq)]
enum Comments {
    /// Kept in the statement text: they document the DDL on the server.
    Keep,
    /// Dropped: the code alone, for checksums.
    Drop,
}

fn scan_statements(sql: &str, comments: Comments) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '`' | '"' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    // A comment runs to the end of the line.
                    let keep = comments == Comments::Keep;
                    if keep {
                        cur.push(c);
                    }
                    for n in chars.by_ref() {
                        if keep || n == '\n' {
                            cur.push(n);
                        }
                        if n == '\n' {
                            break;
                        }
                    }
                }
                ';' => {
                    push_statement(&mut out, &cur);
                    cur.clear();
                }
                _ => cur.push(c),
            },
        }
    }
    push_statement(&mut out, &cur);
    out
}

fn push_statement(out: &mut Vec<String>, s: &str) {
    let has_code = s
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with("--"));
    if has_code {
        out.push(s.trim().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTABLE: &str =
        "-- events\nCREATE TABLE IF NOT EXISTS {db}.t (a String) ENGINE = MergeTree ORDER BY a";
    const MODERN: &str = "-- events, smaller\n-- voc:min_server 20.1\nCREATE TABLE IF NOT EXISTS {db}.t (a LowCardinality(String)) ENGINE = MergeTree ORDER BY a";
    const NEWEST: &str = "-- voc:min_server 24.8\nCREATE TABLE IF NOT EXISTS {db}.t (a LowCardinality(String)) ENGINE = MergeTree ORDER BY a TTL now()";

    fn m() -> Migration {
        migrations(&[("010_t", NEWEST), ("010_t", PORTABLE), ("010_t", MODERN)])
            .unwrap()
            .remove(0)
    }

    #[test]
    fn parses_server_versions() {
        assert_eq!(
            ServerVersion::parse("18.16.1"),
            Some(ServerVersion::new(18, 16, 1))
        );
        assert_eq!(
            ServerVersion::parse("24.8.4.13"),
            Some(ServerVersion::new(24, 8, 4))
        );
        assert_eq!(
            ServerVersion::parse("25.3.2.39-lts\n"),
            Some(ServerVersion::new(25, 3, 2))
        );
        assert_eq!(
            ServerVersion::parse(" 20.1"),
            Some(ServerVersion::new(20, 1, 0))
        );
        assert_eq!(
            ServerVersion::parse("24"),
            Some(ServerVersion::new(24, 0, 0))
        );
        assert_eq!(ServerVersion::parse("x.1"), None);
        assert_eq!(ServerVersion::parse(""), None);
        assert!(ServerVersion::new(18, 16, 1) < ServerVersion::new(20, 1, 0));
        assert!(ServerVersion::new(20, 10, 0) > ServerVersion::new(20, 9, 9));
    }

    #[test]
    fn selects_the_newest_variant_the_server_supports() {
        let m = m();
        let pick = |v: &str| m.select(ServerVersion::parse(v).unwrap()).unwrap().label();
        assert_eq!(pick("18.16.1"), "portable");
        assert_eq!(pick("19.17.4"), "portable");
        assert_eq!(pick("20.1.0"), "min_server 20.1.0");
        assert_eq!(pick("23.3.1"), "min_server 20.1.0");
        assert_eq!(pick("24.8.0"), "min_server 24.8.0");
        assert_eq!(pick("25.3.2.39"), "min_server 24.8.0");
    }

    #[test]
    fn a_migration_without_a_portable_variant_fails_on_old_servers() {
        let m = migrations(&[("011_x", MODERN)]).unwrap().remove(0);
        assert!(matches!(
            m.select(ServerVersion::new(18, 16, 1)),
            Err(MigrationError::NoVariant { .. })
        ));
        assert!(m.select(ServerVersion::new(21, 8, 0)).is_ok());
    }

    #[test]
    fn bad_or_duplicate_headers_are_errors() {
        let bad = "-- voc:min_server twenty\nSELECT 1";
        assert!(matches!(
            migrations(&[("012_bad", bad)]),
            Err(MigrationError::BadHeader { .. })
        ));
        assert!(matches!(
            migrations(&[("013_d", PORTABLE), ("013_d", PORTABLE)]),
            Err(MigrationError::DuplicateVariant { .. })
        ));
        // A header after the first statement is not a header.
        let late = "CREATE TABLE a (x UInt8) ENGINE = Memory;\n-- voc:min_server 99.1\nSELECT 1";
        assert_eq!(Variant::new(late).unwrap().min_server, None);
    }

    #[test]
    fn runs_in_name_order() {
        let ms = migrations(&[
            ("020_b", PORTABLE),
            ("004_a", PORTABLE),
            ("001_c", PORTABLE),
        ])
        .unwrap();
        let names: Vec<_> = ms.iter().map(|m| m.name).collect();
        assert_eq!(names, ["001_c", "004_a", "020_b"]);
    }

    fn applied(m: &Migration, label: &str, checksum: Option<&str>) -> Applied {
        Applied {
            name: m.name.into(),
            variant: label.into(),
            checksum: checksum
                .map(str::to_string)
                .unwrap_or_else(|| m.variant(label).unwrap().checksum()),
            applied_at: "2026-11-20 10:00:00".into(),
            server_version: "18.16.1".into(),
        }
    }

    #[test]
    fn plans_apply_skip_and_refuses_changed_migrations() {
        let m = m();
        let old = ServerVersion::new(18, 16, 1);
        assert_eq!(plan(&m, None, old).unwrap(), Step::Apply(&m.variants[1]));
        let a = applied(&m, "portable", None);
        assert_eq!(plan(&m, Some(&a), old).unwrap(), Step::Skip { newer: None });
        // Upgraded server: the applied portable variant stays, and the plan says so.
        let up = plan(&m, Some(&a), ServerVersion::new(24, 8, 1)).unwrap();
        assert!(matches!(up, Step::Skip { newer: Some(v) } if v.label() == "min_server 24.8.0"));
        let changed = applied(&m, "portable", Some("0000000000000000"));
        let err = plan(&m, Some(&changed), old).unwrap_err();
        assert!(matches!(err, MigrationError::ChecksumChanged { .. }));
        assert!(err.to_string().contains("010_t"), "{err}");
        let gone = applied(&m, "portable", None);
        let gone = Applied {
            variant: "min_server 30.1.0".into(),
            ..gone
        };
        assert!(matches!(
            plan(&m, Some(&gone), old),
            Err(MigrationError::VariantGone { .. })
        ));
    }

    #[test]
    fn splits_statements_outside_quotes_and_comments() {
        let sql = "-- a; comment\nCREATE TABLE {db}.a (x String DEFAULT ';') ENGINE = Memory;\n\nCREATE VIEW {db}.v AS SELECT 'it''s; fine' AS s;\n-- trailing comment only\n";
        let s = Variant::new(Box::leak(sql.to_string().into_boxed_str()))
            .unwrap()
            .statements("d");
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].contains("d.a (x String DEFAULT ';')"));
        assert!(s[1].ends_with("'it''s; fine' AS s"));
    }

    #[test]
    fn checksums_follow_the_text() {
        let a = Variant::new(PORTABLE).unwrap();
        let b = Variant::new(MODERN).unwrap();
        assert_eq!(a.checksum(), Variant::new(PORTABLE).unwrap().checksum());
        assert_ne!(a.checksum(), b.checksum());
        assert_eq!(a.checksum().len(), 16);
    }

    #[test]
    fn checksums_ignore_comments_and_accept_earlier_records() {
        let a = Variant::new(PORTABLE).unwrap();
        let edited = Variant::new(
            "-- events, documented better\nCREATE TABLE IF NOT EXISTS {db}.t (a String) ENGINE = MergeTree ORDER BY a",
        )
        .unwrap();
        assert_eq!(a.checksum(), edited.checksum());
        let text = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(PORTABLE.as_bytes()));
        assert!(
            a.matches("010_t", &text),
            "whole-text checksum of the same file"
        );
        assert!(
            !edited.matches("010_t", &text),
            "a different text needs a listed edit"
        );
        assert!(!a.matches("010_t", "0000000000000000"));
        assert!(!a.matches("020_alerts", "0000000000000000"));
    }
}
