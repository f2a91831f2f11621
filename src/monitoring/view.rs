//! `pgha top`'s frame: the members (role, state, timeline, lag), their TPS and connections, the
//! archive's and the last backup's age, and the alerts firing; sparklines of TPS and lag over the
//! last frames. Pure: the command gathers the figures, this renders them.

use std::collections::{BTreeMap, VecDeque};

/// Samples a sparkline keeps.
pub const HISTORY: usize = 30;

/// One member's line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberLine {
    pub member: String,
    pub role: String,
    pub state: String,
    pub timeline: Option<u64>,
    pub lag_bytes: Option<u64>,
    pub lag_s: Option<f64>,
    pub tps: Option<f64>,
    pub connections: Option<f64>,
}

/// One alert's line.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertLine {
    pub severity: String,
    pub name: String,
    pub member: String,
    pub summary: String,
}

/// Everything one frame shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub cluster: String,
    pub clock: String,
    /// Where the figures come from ("Prometheus", or "PostgreSQL directly (...)").
    pub source: String,
    pub members: Vec<MemberLine>,
    pub archive_age_s: Option<f64>,
    pub backup_age_s: Option<f64>,
    /// None: alerts could not be read (no Prometheus).
    pub alerts: Option<Vec<AlertLine>>,
    pub problems: Vec<String>,
}

/// TPS and lag of each member over the last frames.
#[derive(Debug, Clone, Default)]
pub struct History {
    tps: BTreeMap<String, VecDeque<f64>>,
    lag: BTreeMap<String, VecDeque<f64>>,
}

impl History {
    pub fn push(&mut self, f: &Frame) {
        for m in &f.members {
            for (map, v) in [
                (&mut self.tps, m.tps),
                (&mut self.lag, m.lag_bytes.map(|b| b as f64)),
            ] {
                let q = map.entry(m.member.clone()).or_default();
                q.push_back(v.unwrap_or(0.0));
                while q.len() > HISTORY {
                    q.pop_front();
                }
            }
        }
    }

    fn line(map: &BTreeMap<String, VecDeque<f64>>, member: &str) -> String {
        map.get(member)
            .map(|q| sparkline(q.iter().copied()))
            .unwrap_or_default()
    }
}

/// `▁▂▃▄▅▆▇█` scaled to the largest value (all `▁` when every value is 0).
pub fn sparkline(values: impl Iterator<Item = f64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let v: Vec<f64> = values
        .map(|x| if x.is_finite() { x.max(0.0) } else { 0.0 })
        .collect();
    let max = v.iter().copied().fold(0.0, f64::max);
    v.iter()
        .map(|x| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((x / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

fn bytes(b: u64) -> String {
    match b {
        b if b < 1024 => format!("{b} B"),
        b if b < 1 << 20 => format!("{:.1} KiB", b as f64 / 1024.0),
        b if b < 1 << 30 => format!("{:.1} MiB", b as f64 / 1048576.0),
        b => format!("{:.1} GiB", b as f64 / 1073741824.0),
    }
}

fn age(s: Option<f64>) -> String {
    match s {
        Some(s) if s >= 0.0 => format!("{} ago", crate::output::short_age(s as i64)),
        _ => "n/a".into(),
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

/// The frame as text, `width` columns at most for the summary lines.
pub fn render(f: &Frame, h: &History) -> String {
    let mut out = format!(
        "pgha top: cluster {}  {}  (figures from {})\n\n",
        f.cluster, f.clock, f.source
    );
    let header = [
        "Member",
        "Role",
        "State",
        "TL",
        "Lag",
        "Lag s",
        "TPS",
        "TPS trend",
        "Lag trend",
        "Conns",
    ];
    let rows: Vec<Vec<String>> = f
        .members
        .iter()
        .map(|m| {
            vec![
                m.member.clone(),
                m.role.clone(),
                m.state.clone(),
                opt(m.timeline, |t| t.to_string()),
                opt(m.lag_bytes, bytes),
                opt(m.lag_s, |s| format!("{s:.1}")),
                opt(m.tps, |t| format!("{t:.1}")),
                History::line(&h.tps, &m.member),
                History::line(&h.lag, &m.member),
                opt(m.connections, |c| format!("{c:.0}")),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (c, w) in cells.iter().zip(&widths) {
            s.push_str(c);
            s.push_str(&" ".repeat(w - c.chars().count() + 2));
        }
        s.trim_end().to_string() + "\n"
    };
    out.push_str(&line(header.iter().map(|s| s.to_string()).collect()));
    for r in rows {
        out.push_str(&line(r));
    }
    out.push_str(&format!(
        "\nLast archived WAL: {}   Last backup: {}\n",
        age(f.archive_age_s),
        age(f.backup_age_s)
    ));
    match &f.alerts {
        None => out.push_str("Alerts: n/a (Prometheus is not running)\n"),
        Some(a) if a.is_empty() => out.push_str("Alerts: none firing\n"),
        Some(a) => {
            out.push_str(&format!("Alerts: {} firing\n", a.len()));
            for a in a {
                out.push_str(&format!(
                    "  {:<8} {} {}: {}\n",
                    a.severity, a.name, a.member, a.summary
                ));
            }
        }
    }
    for p in &f.problems {
        out.push_str(&format!("! {p}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_largest_value() {
        assert_eq!(sparkline([0.0, 0.0].into_iter()), "▁▁");
        assert_eq!(sparkline([0.0, 50.0, 100.0].into_iter()), "▁▅█");
        assert_eq!(sparkline([f64::NAN, 1.0].into_iter()), "▁█");
    }

    #[test]
    fn a_frame_shows_every_member_tps_and_alerts() {
        let f = Frame {
            cluster: "c".into(),
            clock: "12:00:00".into(),
            source: "Prometheus".into(),
            members: vec![
                MemberLine {
                    member: "pg1".into(),
                    role: "Leader".into(),
                    state: "running".into(),
                    timeline: Some(3),
                    tps: Some(812.44),
                    connections: Some(5.0),
                    ..Default::default()
                },
                MemberLine {
                    member: "pg2".into(),
                    role: "Replica".into(),
                    state: "streaming".into(),
                    lag_bytes: Some(2048),
                    lag_s: Some(0.25),
                    ..Default::default()
                },
            ],
            archive_age_s: Some(12.0),
            backup_age_s: None,
            alerts: Some(vec![AlertLine {
                severity: "warning".into(),
                name: "PghaReplicaNotStreaming".into(),
                member: "pg3".into(),
                summary: "pg3 does not stream".into(),
            }]),
            problems: vec![],
        };
        let mut h = History::default();
        h.push(&f);
        h.push(&f);
        let text = render(&f, &h);
        for want in [
            "pg1",
            "Leader",
            "812.4",
            "2.0 KiB",
            "0.2",
            "12s ago",
            "Last backup: n/a",
            "1 firing",
            "PghaReplicaNotStreaming pg3",
            "██",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        let none = Frame {
            alerts: None,
            ..f.clone()
        };
        assert!(render(&none, &h).contains("Alerts: n/a"));
    }
}
