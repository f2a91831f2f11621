//! Output formatting: the member table (`list`) and other tables, human and JSON. Pure: returns
//! strings; commands print them on stdout.

use crate::state::{ClusterView, Lag};
use comfy_table::{
    CellAlignment, ContentArrangement, ContentLineStyle, LineStyle, Table, TableStyle,
};

/// ASCII borders with a `+---+` header separator, as patronictl prints.
const PATRONICTL_STYLE: TableStyle = TableStyle::new()
    .top_border(LineStyle::new('+', '-', '+', '+'))
    .header_lines(ContentLineStyle::new('|', '|', '|'))
    .header_separator(LineStyle::new('+', '-', '+', '+'))
    .content_lines(ContentLineStyle::new('|', '|', '|'))
    .bottom_border(LineStyle::new('+', '-', '+', '+'));
use serde::Serialize;

/// One row of `pgha list`, as patronictl computes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberRow {
    pub member: String,
    pub host: String,
    pub role: String,
    pub state: String,
    pub timeline: Option<u64>,
    /// Lag in MB (rounded half to even); `None` for the leader or when unknown.
    pub lag_mb: Option<u64>,
    /// Lag in bytes behind the leader's last reported position.
    pub lag_bytes: Option<u64>,
    pub lag_unknown: bool,
    pub pending_restart: bool,
    pub paused: bool,
}

/// The whole `pgha list` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListReport {
    pub cluster: String,
    pub system_id: String,
    pub leader: Option<String>,
    pub maintenance_mode: bool,
    pub members: Vec<MemberRow>,
    pub scheduled_switchover: Option<ScheduledSwitchover>,
    /// Read without a quorum (`list --stale`): one member's last known state, maybe out of date.
    pub stale: bool,
    /// The etcd member the stale state was read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduledSwitchover {
    pub at: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

pub fn list_report(view: &ClusterView) -> ListReport {
    let hosts: Vec<Option<(String, u16)>> = view.members.iter().map(|m| m.host_port()).collect();
    let names: Vec<&String> = hosts.iter().flatten().map(|(h, _)| h).collect();
    let unique = {
        let mut s = names.clone();
        s.sort();
        s.dedup();
        s.len() == names.len()
    };
    let with_port = !unique || hosts.iter().flatten().any(|(_, p)| *p != 5432);
    let members = view
        .members
        .iter()
        .zip(&hosts)
        .map(|(m, hp)| {
            let lag = view.lag_bytes(m);
            MemberRow {
                member: m.name.clone(),
                host: match hp {
                    Some((h, p)) if with_port => format!("{h}:{p}"),
                    Some((h, _)) => h.clone(),
                    None => String::new(),
                },
                role: view.role_of(m).label().to_string(),
                state: view.state_of(m),
                timeline: m.data.timeline,
                lag_mb: lag.mb(),
                lag_bytes: match lag {
                    Lag::Bytes(b) => Some(b),
                    _ => None,
                },
                lag_unknown: lag == Lag::Unknown,
                pending_restart: m.data.pending_restart == Some(true),
                paused: m.data.pause == Some(true),
            }
        })
        .collect();
    let scheduled_switchover = view
        .failover
        .scheduled_at
        .as_ref()
        .map(|at| ScheduledSwitchover {
            at: at.clone(),
            from: view.failover.leader.clone(),
            to: view.failover.member.clone(),
        });
    ListReport {
        cluster: view.scope.clone(),
        system_id: view.system_id(),
        leader: view.leader.clone(),
        maintenance_mode: view.paused(),
        members,
        scheduled_switchover,
        stale: false,
        stale_from: None,
    }
}

/// `list_report` ordered as a tree, as `patronictl topology` draws it: the leader at the root,
/// replicas beneath it, cascading replicas (tag `replicatefrom`) beneath their upstream; names
/// indented with `+ `.
pub fn topology_report(view: &ClusterView) -> ListReport {
    let mut r = list_report(view);
    let upstream = |name: &str| -> Option<String> {
        let m = view.member(name)?;
        let up = m
            .data
            .tags
            .as_ref()?
            .get("replicatefrom")?
            .as_str()?
            .to_string();
        (view.member(&up).is_some() && up != name).then_some(up)
    };
    let parent = |name: &str| -> Option<String> {
        if view.leader.as_deref() == Some(name) {
            return None;
        }
        upstream(name).or_else(|| view.leader.clone().filter(|l| view.member(l).is_some()))
    };
    let mut ordered = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    fn walk(
        node: &str,
        depth: usize,
        rows: &[MemberRow],
        parent: &dyn Fn(&str) -> Option<String>,
        seen: &mut std::collections::BTreeSet<String>,
        out: &mut Vec<MemberRow>,
    ) {
        if !seen.insert(node.to_string()) {
            return;
        }
        if let Some(row) = rows.iter().find(|x| x.member == node) {
            let mut row = row.clone();
            if depth > 0 {
                row.member = format!("{}+ {}", "  ".repeat(depth - 1), row.member);
            }
            out.push(row);
        }
        for child in rows
            .iter()
            .filter(|x| parent(&x.member).as_deref() == Some(node))
        {
            walk(&child.member, depth + 1, rows, parent, seen, out);
        }
    }
    let roots: Vec<String> = r
        .members
        .iter()
        .filter(|m| parent(&m.member).is_none())
        .map(|m| m.member.clone())
        .collect();
    for root in roots.iter().chain(r.members.iter().map(|m| &m.member)) {
        walk(root, 0, &r.members, &parent, &mut seen, &mut ordered);
    }
    r.members = ordered;
    r
}

/// A table in pgha's style: ASCII borders, header separated, content not wrapped.
pub fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(PATRONICTL_STYLE)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    t
}

/// Puts `title` into the table's top border, as patronictl does (`+ Cluster: x (id) ---+`).
pub fn titled(table: &Table, title: &str) -> String {
    let text = table.to_string();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let label = format!(" {title} ");
    if let Some(top) = lines.first_mut() {
        if top.len() > label.len() + 2 {
            let mut s = String::from("+");
            s.push_str(&label);
            s.push_str(&top[1 + label.len()..]);
            *top = s;
        } else {
            lines.insert(0, title.to_string());
        }
    }
    lines.join("\n")
}

pub fn list_table(r: &ListReport) -> String {
    let pending = r.members.iter().any(|m| m.pending_restart);
    let mut header = vec!["Member", "Host", "Role", "State", "TL", "Lag in MB"];
    if pending {
        header.push("Pending restart");
    }
    let mut t = new_table(&header);
    for m in &r.members {
        let lag = match (m.lag_mb, m.lag_unknown) {
            (_, true) => "unknown".to_string(),
            (Some(mb), _) => mb.to_string(),
            (None, _) => String::new(),
        };
        let mut row = vec![
            m.member.clone(),
            m.host.clone(),
            m.role.clone(),
            m.state.clone(),
            m.timeline.map(|t| t.to_string()).unwrap_or_default(),
            lag,
        ];
        if pending {
            row.push(if m.pending_restart {
                "*".into()
            } else {
                String::new()
            });
        }
        t.add_row(row);
    }
    for col in [4, 5] {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = titled(&t, &format!("Cluster: {} ({})", r.cluster, r.system_id));
    out.push('\n');
    if r.maintenance_mode {
        out.push_str(" Maintenance mode: on\n");
    }
    if let Some(s) = &r.scheduled_switchover {
        out.push_str(&format!(" Switchover scheduled at: {}\n", s.at));
        if let Some(f) = &s.from {
            out.push_str(&format!("                    from: {f}\n"));
        }
        if let Some(t) = &s.to {
            out.push_str(&format!("                      to: {t}\n"));
        }
    }
    if r.stale {
        out.push_str(&format!(
            " Stale: read from {} without a quorum; may be out of date\n",
            r.stale_from.as_deref().unwrap_or("one etcd member")
        ));
    }
    out
}

/// Pretty JSON with a trailing newline.
pub fn json<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
    s.push('\n');
    s
}

/// Seconds with one decimal, for reports.
pub fn secs(d: std::time::Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// A Unix time as UTC, e.g. `2026-12-02 01:23:45Z`.
pub fn fmt_time(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replacen('T', " ", 1)
}

/// Bytes with a binary unit: `512 B`, `30.2 MiB`.
pub fn fmt_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// An age in seconds, coarsely: `42 s`, `17 min`, `5.5 h`, `3.0 d`.
pub fn fmt_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{:.1} h", s as f64 / 3600.0),
        _ => format!("{:.1} d", s as f64 / 86400.0),
    }
}

/// An age in seconds to the second, for what changes by the second (`pgha alerts`, `pgha top`):
/// `5s`, `1m15s`, `2h02m`, `1d01h`. `fmt_age` is the coarse one.
pub fn short_age(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ages_read_to_the_second() {
        assert_eq!(short_age(5), "5s");
        assert_eq!(short_age(75), "1m15s");
        assert_eq!(short_age(7322), "2h02m");
        assert_eq!(short_age(90_000), "1d01h");
    }

    #[test]
    fn a_stale_report_says_so_in_the_table_and_the_json() {
        let view = ClusterView::from_kvs("x", "/service/x/", &[]);
        let mut r = list_report(&view);
        assert!(!list_table(&r).contains("Stale"));
        assert_eq!(serde_json::to_value(&r).unwrap()["stale"], false);
        r.stale = true;
        r.stale_from = Some("etcd3".into());
        assert!(list_table(&r)
            .ends_with(" Stale: read from etcd3 without a quorum; may be out of date\n"));
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(
            (j["stale"].clone(), j["stale_from"].clone()),
            (true.into(), "etcd3".into())
        );
    }
}
