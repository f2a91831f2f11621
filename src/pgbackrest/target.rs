//! Restore targets (`--time`, `--lsn`, `--xid`, `--name`, the latest WAL) and the other values
//! a user gives a backup command (restore point names, backup labels): checked, described, and
//! turned into pgBackRest's options.

use serde::Serialize;

/// What a restore recovers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Target {
    /// The end of the archived WAL.
    Latest,
    Time(String),
    Lsn(String),
    Xid(String),
    /// A restore point (`pgha backup --mark NAME`).
    Name(String),
}

impl Target {
    /// Checks the value; the error names what is wrong and how to write it.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Target::Latest => Ok(()),
            Target::Time(t) => check_time(t),
            Target::Lsn(l) => {
                let ok = l.split_once('/').is_some_and(|(a, b)| {
                    [a, b].iter().all(|p| {
                        !p.is_empty() && p.len() <= 8 && p.bytes().all(|c| c.is_ascii_hexdigit())
                    })
                });
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "--lsn {l:?} is not an LSN: write it as PostgreSQL prints one, e.g. 0/3000060"
                    ))
                }
            }
            Target::Xid(x) => {
                if !x.is_empty() && x.len() <= 20 && x.bytes().all(|c| c.is_ascii_digit()) {
                    Ok(())
                } else {
                    Err(format!(
                        "--xid {x:?} is not a transaction ID: give the number, e.g. 7654"
                    ))
                }
            }
            Target::Name(n) => check_mark(n).map_err(|e| format!("--name {n:?} {e}")),
        }
    }

    /// pgBackRest's options for this target. A target other than the end of the WAL stops there
    /// and promotes (`pause` does not work under Patroni's custom bootstrap).
    pub fn options(&self) -> Vec<String> {
        let (typ, target) = match self {
            Target::Latest => return vec![],
            Target::Time(t) => ("time", t),
            Target::Lsn(l) => ("lsn", l),
            Target::Xid(x) => ("xid", x),
            Target::Name(n) => ("name", n),
        };
        vec![
            format!("--type={typ}"),
            format!("--target=\"{target}\""),
            "--target-action=promote".into(),
        ]
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Latest => "the latest archived WAL".into(),
            Target::Time(t) => format!("time {t}"),
            Target::Lsn(l) => format!("LSN {l}"),
            Target::Xid(x) => format!("transaction {x}"),
            Target::Name(n) => format!("restore point {n:?}"),
        }
    }
}

/// A restore point's name (`backup --mark`): it travels in a shell command, so plain characters.
pub fn check_mark(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 63
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(
            "is not a usable restore point name: use 1-63 letters, digits, '-', '_', '.', ':'"
                .into(),
        )
    }
}

/// `YYYY-MM-DD HH:MM:SS[.frac][+HH[:MM]|Z]`, the form PostgreSQL's recovery_target_time reads.
fn check_time(t: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "--time {t:?} is not a timestamp: write it as YYYY-MM-DD HH:MM:SS with a zone, e.g. \"2026-12-02 10:15:00+00\""
        ))
    };
    let b = t.as_bytes();
    if b.len() < 19 {
        return bad();
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(|c| c.is_ascii_digit());
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b' ' || b[10] == b'T')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return bad();
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return bad();
        }
        rest = &frac[n..];
    }
    let zone_ok = rest == "Z"
        || (rest.len() >= 3
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest[1..]
                .split(':')
                .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_digit())));
    if !zone_ok {
        return Err(format!(
            "--time {t:?} has no time zone: add one (+00 for UTC), so the target does not depend on the server's zone"
        ));
    }
    Ok(())
}

/// Unix seconds of a `--time` value that passed `Target::check`.
pub fn time_unix(t: &str) -> Option<i64> {
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, s) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let zone = t[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone {
        "Z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let mut parts = z[1..].split(':');
            let zh: i64 = parts.next()?.parse().ok()?;
            let zm: i64 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
            sign * (zh * 3600 + zm * 60)
        }
    };
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// A backup label as pgBackRest writes them (`20261202-012345F`, `..._20261202-013000D`).
pub fn check_label(l: &str) -> Result<(), String> {
    let ok = (16..=40).contains(&l.len())
        && l.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'F' | b'D' | b'I'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--set {l:?} is not a backup label: copy one from `pgha backup list`, e.g. 20261202-012345F"
        ))
    }
}
