//! The summary table printed on stderr at the end of a run: the report's key figures, one
//! aligned row each, with their units. It is read from the JSON report itself, so the two
//! cannot disagree.

use serde_json::Value;
use std::fmt::Write as _;

/// The rows for `report` (the JSON that `cultfit simulate` prints), as lines of text.
pub fn table(report: &Value) -> String {
    let rows = rows(report);
    let width = rows
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<width$}  {value}");
    }
    out
}

fn rows(r: &Value) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        (
            "trainees",
            format!(
                "{} at {} Hz for {} s ({})",
                n(&r["trainees"]),
                n(&r["rate_hz"]),
                n(&r["duration_s"]),
                r["publisher"]
                    .as_str()
                    .and_then(|p| p.split(':').next())
                    .unwrap_or("?")
            ),
        ),
        ("setup", setup(&r["setup"])),
        (
            "samples",
            format!(
                "{} sent ({}/s), {} accepted ({}/s), {} rejected",
                n(&r["sent"]),
                n(&r["sent_per_s"]),
                n(&r["accepted"]),
                n(&r["accepted_per_s"]),
                n(&r["rejected"])
            ),
        ),
        (
            "results missing energy",
            format!("{} trainees", n(&r["results_missing_energy"])),
        ),
        (
            "sample → frame",
            format!(
                "p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms ({} samples, {} never shown)",
                ms(&r["latency_ms"]["p50"]),
                ms(&r["latency_ms"]["p99"]),
                ms(&r["latency_ms"]["p99_9"]),
                ms(&r["latency_ms"]["max"]),
                n(&r["latency_samples"]),
                n(&r["unreflected"])
            ),
        ),
        (
            "longest frame gap",
            format!(
                "{} ms ({} ticks)",
                ms(&r["longest_frame_gap_ms"]),
                n(&r["ticks"])
            ),
        ),
        (
            "live subject",
            format!(
                "{} bytes per tick to every api node following",
                n(&r["live_bytes_per_tick"])
            ),
        ),
    ];
    let connect = &r["connect"];
    rows.push((
        "connect storm",
        if connect.is_null() {
            "none (trusted publisher)".to_owned()
        } else {
            let servers = connect["per_server"]
                .as_object()
                .filter(|servers| servers.len() > 1)
                .map(|servers| {
                    let each: Vec<String> = servers
                        .iter()
                        .map(|(server, count)| format!("{} on {server}", n(count)))
                        .collect();
                    format!("; {}", each.join(", "))
                })
                .unwrap_or_default();
            format!(
                "{} admitted in {} s ({}/s), {} refused, latency p50 {} ms, p99 {} ms{servers}",
                n(&connect["admitted"]),
                secs(&connect["seconds"]),
                n(&connect["admitted_per_s"]),
                n(&connect["refused"]),
                ms(&connect["latency_ms"]["p50"]),
                ms(&connect["latency_ms"]["p99"])
            )
        },
    ));
    if let Some(processes) = r["wearable_processes"]
        .as_array()
        .filter(|list| !list.is_empty())
    {
        let sum = |key: &str| -> f64 { processes.iter().filter_map(|p| p[key].as_f64()).sum() };
        let failed = processes
            .iter()
            .filter(|p| p["failed"].as_bool() != Some(false))
            .count();
        rows.push((
            "wearable processes",
            format!(
                "{}: {failed} failed, {:.0} wearables, {:.0} samples sent, {:.0} unacknowledged, \
                 {:.2} CPU s connecting",
                processes.len(),
                sum("wearables"),
                sum("sent"),
                sum("unacknowledged"),
                sum("cpu_s_connecting")
            ),
        ));
    }
    let apps = &r["app_streams"];
    rows.push((
        "app streams",
        if apps["followers"].as_u64().unwrap_or(0) == 0 {
            "none (--followers 0)".to_owned()
        } else {
            format!(
                "{} followers ({} over WebSocket): {} frames, {} failed, lag p99 {} ms, {} reconnected",
                n(&apps["followers"]),
                n(&apps["websocket_followers"]),
                n(&apps["frames_received"]),
                n(&apps["failed"]),
                ms(&apps["frame_lag_ms"]["p99"]),
                n(&apps["reconnected"])
            )
        },
    ));
    rows.push(("service", memory(&r["service_memory"], "service processes")));
    rows.push(("simulator", memory(&r["simulator_memory"], "processes")));
    rows
}

fn setup(s: &Value) -> String {
    if s.is_null() {
        return "?".to_owned();
    }
    let accounts: u64 = [
        "accounts_cached",
        "accounts_refreshed",
        "accounts_logged_in",
        "accounts_registered",
    ]
    .iter()
    .filter_map(|k| s[k].as_u64())
    .sum();
    format!(
        "{accounts} accounts in {} s: {} cached, {} refreshed, {} logged in, {} registered",
        secs(&s["seconds"]),
        n(&s["accounts_cached"]),
        n(&s["accounts_refreshed"]),
        n(&s["accounts_logged_in"]),
        n(&s["accounts_registered"])
    )
}

/// Resident memory and CPU of the processes in a `*_memory` list, added up.
fn memory(list: &Value, what: &str) -> String {
    let processes = list.as_array().map(Vec::as_slice).unwrap_or_default();
    if processes.is_empty() {
        return "not measured (no `cultfit serve` on this machine: give --service-pid)".to_owned();
    }
    let sum = |key: &str| -> f64 { processes.iter().filter_map(|p| p[key].as_f64()).sum() };
    let cores = if processes.iter().all(|p| p["cores_while_sending"].is_f64()) {
        format!("{:.2} cores", sum("cores_while_sending"))
    } else {
        "? cores".to_owned()
    };
    let count = if processes.len() > 1 {
        format!("{} {what}: ", processes.len())
    } else {
        String::new()
    };
    format!(
        "{count}{:.0} MiB RSS (peak {:.0} MiB), {cores} while sending",
        sum("rss_mib"),
        sum("peak_rss_mib")
    )
}

/// A count or a rate: whole numbers whole, others to one decimal; `?` if absent.
fn n(value: &Value) -> String {
    match (value.as_i64(), value.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) if f.fract() == 0.0 => format!("{f:.0}"),
        (None, Some(f)) => format!("{f:.1}"),
        _ => "?".to_owned(),
    }
}

/// Milliseconds: to a tenth where the report has fractions.
fn ms(value: &Value) -> String {
    match (value.as_i64(), value.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) => format!("{f:.1}"),
        _ => "?".to_owned(),
    }
}

/// Seconds, to a hundredth.
fn secs(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "?".to_owned(), |f| format!("{f:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({
            "workout_id": "0199a0b2-0000-7000-8000-000000000000",
            "trainees": 6, "rate_hz": 5.0, "duration_s": 3,
            "sent": 90, "sent_per_s": 30.0, "accepted": 90, "rejected": 0, "accepted_per_s": 30.0,
            "latency_samples": 90,
            "latency_ms": {"p50": 12.345, "p99": 40.1, "p99_9": 45.0, "max": 150.25},
            "unreflected": 0, "results_missing_energy": 0, "ticks": 17,
            "longest_frame_gap_ms": 210, "live_bytes_per_tick": 1234,
            "app_streams": {"followers": 3, "websocket_followers": 1, "failed": 0, "frames_received": 45,
                            "frame_lag_ms": {"p50": 3, "p99": 12, "p99_9": 12, "max": 12},
                            "reconnected": 0, "recovery_ms": {"p50": 0, "p99": 0}},
            "publisher": "devices: one connection per wearable, each with its device token",
            "connect": {"admitted": 6, "refused": 0, "seconds": 0.052, "admitted_per_s": 115.0,
                        "latency_ms": {"p50": 7.5, "p99": 12.0, "max": 12.0}},
            "service_memory": [
                {"pid": 1, "rss_mib": 100.0, "peak_rss_mib": 110.0, "cores_while_sending": 0.25},
                {"pid": 2, "rss_mib": 45.0, "peak_rss_mib": 50.0, "cores_while_sending": 0.17},
            ],
            "simulator_memory": [
                {"pid": 3, "rss_mib": 35.0, "peak_rss_mib": 40.0, "cores_while_sending": 0.05},
            ],
            "setup": {"accounts_cached": 7, "accounts_refreshed": 0, "accounts_logged_in": 0,
                      "accounts_registered": 0, "seconds": 0.118, "token_cache": "/tmp/x.json"},
        })
    }

    #[test]
    fn the_table_shows_the_key_figures_with_their_units() {
        let expected = [
            "  trainees                6 at 5 Hz for 3 s (devices)",
            "  setup                   7 accounts in 0.12 s: 7 cached, 0 refreshed, 0 logged in, 0 registered",
            "  samples                 90 sent (30/s), 90 accepted (30/s), 0 rejected",
            "  results missing energy  0 trainees",
            "  sample → frame          p50 12.3 ms, p99 40.1 ms, p99.9 45.0 ms, max 150.2 ms (90 samples, 0 never shown)",
            "  longest frame gap       210 ms (17 ticks)",
            "  live subject            1234 bytes per tick to every api node following",
            "  connect storm           6 admitted in 0.05 s (115/s), 0 refused, latency p50 7.5 ms, p99 12.0 ms",
            "  app streams             3 followers (1 over WebSocket): 45 frames, 0 failed, lag p99 12 ms, 0 reconnected",
            "  service                 2 service processes: 145 MiB RSS (peak 160 MiB), 0.42 cores while sending",
            "  simulator               35 MiB RSS (peak 40 MiB), 0.05 cores while sending",
        ]
        .map(|line| format!("{line}\n"))
        .concat();
        assert_eq!(table(&report()), expected);
    }

    #[test]
    fn every_value_starts_in_the_same_column() {
        let table = table(&report());
        let columns: Vec<usize> = table
            .lines()
            .map(|line| {
                let label_end = line.trim_start().find("  ").unwrap_or(0) + 2;
                let rest = &line.trim_start()[label_end..];
                line.chars().count() - rest.trim_start().chars().count()
            })
            .collect();
        assert_eq!(columns.len(), 11, "{table}");
        assert!(
            columns.windows(2).all(|w| w[0] == w[1]),
            "{columns:?}\n{table}"
        );
    }

    #[test]
    fn what_a_run_did_not_measure_says_why() {
        let mut report = report();
        report["connect"] = Value::Null;
        report["app_streams"]["followers"] = json!(0);
        report["service_memory"] = json!([]);
        report["simulator_memory"][0]["cores_while_sending"] = Value::Null;
        let table = table(&report);
        assert!(
            table.contains("connect storm           none (trusted publisher)"),
            "{table}"
        );
        assert!(
            table.contains("app streams             none (--followers 0)"),
            "{table}"
        );
        assert!(
            table.contains("service                 not measured"),
            "{table}"
        );
        assert!(
            table.contains("35 MiB RSS (peak 40 MiB), ? cores while sending"),
            "{table}"
        );
    }

    #[test]
    fn wearables_spread_over_processes_and_servers_say_so() {
        let mut report = report();
        report["connect"]["per_server"] = json!({"n1": 3, "n2": 3});
        report["wearable_processes"] = json!([
            {"wearables": 3, "failed": false, "sent": 45, "unacknowledged": 0, "cpu_s_connecting": 0.5},
            {"wearables": 3, "failed": true, "sent": null, "unacknowledged": 0, "cpu_s_connecting": 0.25},
        ]);
        let table = table(&report);
        assert!(table.contains("p99 12.0 ms; 3 on n1, 3 on n2\n"), "{table}");
        assert!(
            table.contains(
                "wearable processes      2: 1 failed, 6 wearables, 45 samples sent, \
                 0 unacknowledged, 0.75 CPU s connecting"
            ),
            "{table}"
        );
    }
}
