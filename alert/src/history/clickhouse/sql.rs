//! Building the history's queries: every value bound to a `?` placeholder
//! by the clickhouse crate, never spliced into the text.

use clickhouse::query::Query;
use clickhouse::sql::Identifier;

/// `?,?,…`: one placeholder per value of an IN list. Every value is bound
/// (escaped by the clickhouse crate); one placeholder each because 18.16
/// has no `IN` over an array.
pub(super) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// `(?,?),(?,?),…`: placeholders for an IN list of pairs.
pub(super) fn pair_placeholders(n: usize) -> String {
    vec!["(?,?)"; n].join(",")
}

/// Binds every value of a list, in order.
pub(super) fn bind_all<'a>(q: Query, values: impl IntoIterator<Item = &'a str>) -> Query {
    values.into_iter().fold(q, |q, v| q.bind(v))
}

/// An operator's query template: `{db}` is bound as the database
/// identifier and `{keys}` as one placeholder per key, in the order
/// they appear in the text.
pub(super) fn template(
    template: &str,
    db: &str,
    keys: &[&str],
    query: impl Fn(&str) -> Query,
) -> Query {
    #[derive(Clone, Copy)]
    enum Arg {
        Db,
        Keys,
    }
    let (mut sql, mut args, mut rest) = (String::new(), Vec::new(), template);
    loop {
        let next = [("{db}", Arg::Db), ("{keys}", Arg::Keys)]
            .into_iter()
            .filter_map(|(token, arg)| rest.find(token).map(|at| (at, token, arg)))
            .min_by_key(|(at, ..)| *at);
        let Some((at, token, arg)) = next else {
            sql.push_str(rest);
            break;
        };
        sql.push_str(&rest[..at]);
        match arg {
            Arg::Db => sql.push('?'),
            Arg::Keys => sql.push_str(&placeholders(keys.len())),
        }
        args.push(arg);
        rest = &rest[at + token.len()..];
    }
    args.into_iter().fold(query(&sql), |q, arg| match arg {
        Arg::Db => q.bind(Identifier(db)),
        Arg::Keys => bind_all(q, keys.iter().copied()),
    })
}
