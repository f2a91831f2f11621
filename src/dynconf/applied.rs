//! Did a member take a PostgreSQL parameter edit-config asked for? Judged from what its
//! PostgreSQL reports (`pg_settings`, `pg_file_settings`) after Patroni processed the change:
//! PostgreSQL may reject the value at reload, and Patroni's validator may clamp it or drop it
//! before writing `postgresql.conf`. Pure; units are compared as PostgreSQL converts them.

use serde::Deserialize;
use serde_json::Value;

/// One parameter as a member's PostgreSQL has it (a `pg_settings` row).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Setting {
    pub name: String,
    pub setting: String,
    /// `current_setting(name)`: the value as PostgreSQL shows it (`4MB`).
    pub current: String,
    pub unit: Option<String>,
    pub vartype: String,
    pub pending_restart: bool,
    pub min_val: Option<String>,
    pub max_val: Option<String>,
    pub enumvals: Option<Vec<String>>,
}

/// One line of a configuration file for the parameter (a `pg_file_settings` row).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FileLine {
    pub sourcefile: String,
    pub seqno: i64,
    pub setting: String,
    pub applied: bool,
    pub error: Option<String>,
}

/// What one member shows for one parameter.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub setting: Option<Setting>,
    pub lines: Vec<FileLine>,
    /// `current_setting(name, true)`: the only trace of a custom (dotted) parameter no loaded
    /// library defines, which pg_settings does not list.
    pub shown: Option<String>,
    /// PostgreSQL reloaded its configuration since the change was written.
    pub reloaded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Applied,
    /// Accepted; takes effect at the next restart.
    PendingRestart,
    NotYet(String),
    /// Not applied, and waiting will not change it: the reason.
    Rejected(String),
    /// PostgreSQL reloaded since the write, yet Patroni's file does not have the value: Patroni's
    /// validator changed or dropped it, or Patroni has not processed the change yet (a reload for
    /// another reason came first). A rejection once it stays so for a few seconds.
    NotWritten(String),
}

/// The value as Patroni writes it into `postgresql.conf` (Python's `str`).
pub fn as_patroni_writes(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// The file Patroni writes the parameters into (it includes `postgresql.base.conf`).
fn is_patronis(line: &FileLine) -> bool {
    line.sourcefile.ends_with("/postgresql.conf") || line.sourcefile == "postgresql.conf"
}

/// Judges parameter `name`, asked to be `asked` (`None`: removed), on one member.
pub fn judge(name: &str, asked: Option<&Value>, o: &Observed) -> Verdict {
    let patroni = o
        .lines
        .iter()
        .filter(|l| is_patronis(l))
        .max_by_key(|l| l.seqno);
    let Some(asked) = asked else {
        return match patroni {
            Some(_) => Verdict::NotYet(format!("{name} is still in postgresql.conf")),
            None => Verdict::Applied,
        };
    };
    let want = as_patroni_writes(asked);
    let last = o.lines.iter().max_by_key(|l| l.seqno);
    let Some(s) = &o.setting else {
        if !name.contains('.') {
            return Verdict::Rejected(format!(
                "PostgreSQL has no parameter named {name}, so Patroni drops it"
            ));
        }
        // A custom parameter: PostgreSQL keeps the text as given.
        return match &o.shown {
            Some(shown) if *shown == want => Verdict::Applied,
            _ if !o.reloaded => Verdict::NotYet("PostgreSQL has not reloaded yet".into()),
            _ => match last.filter(|l| !is_patronis(l)) {
                Some(l) => {
                    Verdict::Rejected(format!("{} overrides it (ALTER SYSTEM?)", l.sourcefile))
                }
                None => Verdict::NotWritten(format!(
                    "PostgreSQL shows {}",
                    o.shown
                        .as_deref()
                        .map(|v| format!("{v:?}"))
                        .unwrap_or("nothing".into())
                )),
            },
        };
    };
    if same_value(&want, s) == Some(true) {
        return Verdict::Applied;
    }
    // Patroni writes the value as given (Python's str), unless its validator changed it.
    let written = patroni.filter(|p| p.setting.trim().eq_ignore_ascii_case(want.trim()));
    if let Some(p) = written {
        if s.pending_restart {
            return Verdict::PendingRestart;
        }
        if !o.reloaded {
            return Verdict::NotYet("PostgreSQL has not reloaded yet".into());
        }
        if let Some(l) = last.filter(|l| l.sourcefile != p.sourcefile) {
            return Verdict::Rejected(format!("{} overrides it (ALTER SYSTEM?)", l.sourcefile));
        }
        if p.error.is_some() || !p.applied {
            return Verdict::Rejected(format!("PostgreSQL rejected it: {}", pg_reason(&want, s)));
        }
        // PostgreSQL took the line; it only spells the value differently.
        return Verdict::Applied;
    }
    if !o.reloaded {
        return Verdict::NotYet("Patroni has not written it yet".into());
    }
    let why = pg_reason(&want, s);
    Verdict::NotWritten(match patroni {
        Some(p) => format!("Patroni's validator wrote {} instead ({why})", p.setting),
        None => format!("Patroni's validator dropped it ({why})"),
    })
}

/// Why PostgreSQL would refuse `value` for `s`, from what pg_settings says the parameter takes.
pub fn pg_reason(value: &str, s: &Setting) -> String {
    let unit = s.unit.as_deref().unwrap_or("");
    match s.vartype.as_str() {
        "bool" => format!("{:?} is not a Boolean value (on or off)", value),
        "enum" => format!(
            "{:?} is not one of: {}",
            value,
            s.enumvals.clone().unwrap_or_default().join(", ")
        ),
        "integer" | "real" => {
            let range = format!(
                "{} .. {}{}{unit}",
                s.min_val.as_deref().unwrap_or("?"),
                s.max_val.as_deref().unwrap_or("?"),
                if unit.is_empty() { "" } else { " " }
            );
            match in_units(value, unit) {
                Some(_) => format!("{value} is outside the valid range {range}"),
                None => format!("{value:?} is not a number with a valid unit (range {range})"),
            }
        }
        _ => format!("{:?} is not a valid value for {}", value, s.name),
    }
}

/// Does `value` (as asked, any unit) equal the setting in effect? `None` when it cannot tell.
pub fn same_value(value: &str, s: &Setting) -> Option<bool> {
    match s.vartype.as_str() {
        "bool" => Some(parse_bool(value)? == parse_bool(&s.setting)?),
        "enum" => Some(value.trim().eq_ignore_ascii_case(&s.setting)),
        "integer" => {
            let v = in_units(value, s.unit.as_deref().unwrap_or(""))?;
            let have: f64 = s.setting.parse().ok()?;
            Some(v.round_ties_even() == have || v.round() == have)
        }
        "real" => {
            let v = in_units(value, s.unit.as_deref().unwrap_or(""))?;
            let have: f64 = s.setting.parse().ok()?;
            Some((v - have).abs() <= 1e-9 * have.abs().max(1.0))
        }
        _ => Some(value == s.setting),
    }
}

/// PostgreSQL's Boolean spellings (unique prefixes of true/false/yes/no, on/off, 1/0).
pub fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim().to_ascii_lowercase();
    let prefix_of = |word: &str| !v.is_empty() && word.starts_with(v.as_str());
    match v.as_str() {
        "on" | "1" => Some(true),
        "off" | "of" | "0" => Some(false),
        "o" => None,
        _ if prefix_of("true") || prefix_of("yes") => Some(true),
        _ if prefix_of("false") || prefix_of("no") => Some(false),
        _ => None,
    }
}

/// Size of a unit: memory in bytes, time in milliseconds; `None` for an unknown unit.
fn unit_size(u: &str) -> Option<(char, f64)> {
    Some(match u {
        "B" => ('m', 1.0),
        "kB" => ('m', 1024.0),
        "MB" => ('m', 1024.0 * 1024.0),
        "GB" => ('m', 1024.0 * 1024.0 * 1024.0),
        "TB" => ('m', 1024.0 * 1024.0 * 1024.0 * 1024.0),
        "us" => ('t', 0.001),
        "ms" => ('t', 1.0),
        "s" => ('t', 1000.0),
        "min" => ('t', 60_000.0),
        "h" => ('t', 3_600_000.0),
        "d" => ('t', 86_400_000.0),
        _ => return None,
    })
}

/// Splits `8kB` into (8, "kB"), `64` into (64, "").
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    let n: f64 = num.parse().ok()?;
    Some((n, unit.trim()))
}

/// `value` in the parameter's unit (`unit` as pg_settings gives it: `kB`, `8kB`, `ms`, or empty).
pub fn in_units(value: &str, unit: &str) -> Option<f64> {
    let (n, given) = number_and_unit(value)?;
    if given.is_empty() {
        return Some(n);
    }
    let (count, base) = number_and_unit(unit)
        .filter(|(_, u)| !u.is_empty())
        .unwrap_or((1.0, unit));
    let (kind_a, size_a) = unit_size(given)?;
    let (kind_b, size_b) = unit_size(base)?;
    (kind_a == kind_b).then_some(n * size_a / (size_b * count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn int(name: &str, setting: &str, unit: &str, min: &str, max: &str) -> Setting {
        Setting {
            name: name.into(),
            setting: setting.into(),
            current: setting.into(),
            unit: (!unit.is_empty()).then(|| unit.into()),
            vartype: "integer".into(),
            min_val: Some(min.into()),
            max_val: Some(max.into()),
            ..Default::default()
        }
    }

    fn line(setting: &str, error: bool) -> FileLine {
        FileLine {
            sourcefile: "/var/lib/postgresql/data/postgresql.conf".into(),
            seqno: 30,
            setting: setting.into(),
            applied: !error,
            error: error.then(|| "setting could not be applied".into()),
        }
    }

    #[test]
    fn units_convert_as_postgresql_does() {
        assert_eq!(in_units("8MB", "kB"), Some(8192.0));
        assert_eq!(in_units("1GB", "8kB"), Some(131072.0));
        assert_eq!(in_units("128MB", "8kB"), Some(16384.0));
        assert_eq!(in_units("16384", "8kB"), Some(16384.0));
        assert_eq!(in_units("2min", "s"), Some(120.0));
        assert_eq!(in_units("250ms", "ms"), Some(250.0));
        assert_eq!(in_units("1s", "MB"), None, "time is not memory");
        assert_eq!(in_units("lots", "kB"), None);
        let work_mem = int("work_mem", "8192", "kB", "64", "2147483647");
        assert_eq!(same_value("8MB", &work_mem), Some(true));
        assert_eq!(same_value("8192kB", &work_mem), Some(true));
        assert_eq!(same_value("8192", &work_mem), Some(true));
        assert_eq!(same_value("4MB", &work_mem), Some(false));
        let b = Setting {
            vartype: "bool".into(),
            setting: "on".into(),
            ..Default::default()
        };
        for yes in ["on", "true", "True", "yes", "1", "t"] {
            assert_eq!(same_value(yes, &b), Some(true), "{yes}");
        }
        assert_eq!(same_value("off", &b), Some(false));
        assert_eq!(same_value("maybe", &b), None);
        assert_eq!(as_patroni_writes(&json!(true)), "True");
        assert_eq!(as_patroni_writes(&json!(42)), "42");
        assert_eq!(as_patroni_writes(&json!("8MB")), "8MB");
    }

    #[test]
    fn a_value_in_effect_is_applied_whatever_its_spelling() {
        let o = Observed {
            setting: Some(int("work_mem", "8192", "kB", "64", "2147483647")),
            lines: vec![line("8MB", false)],
            shown: None,
            reloaded: true,
        };
        assert_eq!(judge("work_mem", Some(&json!("8MB")), &o), Verdict::Applied);
        // No reload needed when it is already in effect.
        let o = Observed {
            reloaded: false,
            ..o
        };
        assert_eq!(
            judge("work_mem", Some(&json!("8192kB")), &o),
            Verdict::Applied
        );
    }

    #[test]
    fn postgresql_rejecting_a_value_gives_its_reason() {
        let tz = Setting {
            name: "TimeZone".into(),
            setting: "Etc/UTC".into(),
            current: "Etc/UTC".into(),
            vartype: "string".into(),
            ..Default::default()
        };
        let o = Observed {
            setting: Some(tz),
            lines: vec![line("Mars/Base", true)],
            shown: None,
            reloaded: true,
        };
        assert_eq!(
            judge("timezone", Some(&json!("Mars/Base")), &o),
            Verdict::Rejected(
                "PostgreSQL rejected it: \"Mars/Base\" is not a valid value for TimeZone".into()
            )
        );
        let o = Observed {
            reloaded: false,
            ..o
        };
        assert!(matches!(
            judge("timezone", Some(&json!("Mars/Base")), &o),
            Verdict::NotYet(_)
        ));
    }

    #[test]
    fn patroni_clamping_or_dropping_a_value_is_not_applied() {
        // Patroni 4.0.7 raises work_mem=1 to its minimum 64 (kB) before writing it.
        let o = Observed {
            setting: Some(int("work_mem", "64", "kB", "64", "2147483647")),
            lines: vec![line("64", false)],
            shown: None,
            reloaded: true,
        };
        assert_eq!(
            judge("work_mem", Some(&json!(1)), &o),
            Verdict::NotWritten(
                "Patroni's validator wrote 64 instead (1 is outside the valid range 64 .. 2147483647 kB)"
                    .into()
            )
        );
        // It drops a Boolean it cannot parse: postgresql.conf has no line for it.
        let o = Observed {
            setting: Some(Setting {
                name: "autovacuum".into(),
                setting: "on".into(),
                vartype: "bool".into(),
                ..Default::default()
            }),
            lines: vec![],
            shown: None,
            reloaded: true,
        };
        assert_eq!(
            judge("autovacuum", Some(&json!("maybe")), &o),
            Verdict::NotWritten(
                "Patroni's validator dropped it (\"maybe\" is not a Boolean value (on or off))"
                    .into()
            )
        );
        // Until PostgreSQL reloads, it may simply not be written yet.
        let o = Observed {
            reloaded: false,
            ..o
        };
        assert!(matches!(
            judge("autovacuum", Some(&json!("maybe")), &o),
            Verdict::NotYet(_)
        ));
        // A name PostgreSQL does not know (no dot): Patroni drops it, no reload comes.
        assert_eq!(
            judge("work_mme", Some(&json!("8MB")), &Observed::default()),
            Verdict::Rejected(
                "PostgreSQL has no parameter named work_mme, so Patroni drops it".into()
            )
        );
    }

    #[test]
    fn a_custom_dotted_parameter_is_judged_by_what_postgresql_shows() {
        // pg_settings does not list placeholders; current_setting() shows them.
        let o = Observed {
            shown: Some("42".into()),
            lines: vec![line("42", false)],
            reloaded: true,
            ..Default::default()
        };
        assert_eq!(
            judge("myapp.setting", Some(&json!(42)), &o),
            Verdict::Applied
        );
        let before = Observed {
            shown: None,
            reloaded: false,
            ..Default::default()
        };
        assert!(matches!(
            judge("myapp.setting", Some(&json!(42)), &before),
            Verdict::NotYet(_)
        ));
        let o = Observed {
            shown: Some("7".into()),
            lines: vec![line("42", false)],
            reloaded: true,
            ..Default::default()
        };
        assert_eq!(
            judge("myapp.setting", Some(&json!(42)), &o),
            Verdict::NotWritten("PostgreSQL shows \"7\"".into())
        );
    }

    #[test]
    fn restart_parameters_and_removals_and_overrides() {
        let mut mc = int("max_connections", "100", "", "1", "262143");
        mc.pending_restart = true;
        let o = Observed {
            setting: Some(mc),
            lines: vec![line("150", true)],
            shown: None,
            reloaded: true,
        };
        assert_eq!(
            judge("max_connections", Some(&json!(150)), &o),
            Verdict::PendingRestart
        );
        assert!(matches!(
            judge("max_connections", None, &o),
            Verdict::NotYet(_)
        ));
        assert_eq!(
            judge("max_connections", None, &Observed::default()),
            Verdict::Applied
        );
        // ALTER SYSTEM's file comes later and wins.
        let mut auto = line("4MB", false);
        auto.sourcefile = "/data/postgresql.auto.conf".into();
        auto.seqno = 40;
        let o = Observed {
            setting: Some(int("work_mem", "4096", "kB", "64", "2147483647")),
            lines: vec![line("8MB", false), auto],
            shown: None,
            reloaded: true,
        };
        assert_eq!(
            judge("work_mem", Some(&json!("8MB")), &o),
            Verdict::Rejected("/data/postgresql.auto.conf overrides it (ALTER SYSTEM?)".into())
        );
    }
}
