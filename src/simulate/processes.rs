//! What the processes under test (and the simulator itself) cost: resident memory and CPU time
//! while the wearables were sending, read from `/proc`.

use serde_json::{Value, json};
use std::collections::HashMap;

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, 100 per second on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// The service's processes: `pids`, or by default every `cultfit serve` on this machine.
pub fn services(pids: &[u32]) -> Vec<u32> {
    if pids.is_empty() {
        serve_processes()
    } else {
        pids.to_vec()
    }
}

/// CPU seconds (user + system) each process has used so far.
pub fn cpu_seconds(pids: &[u32]) -> HashMap<u32, f64> {
    pids.iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command (which may contain spaces) start after the last ')'.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
            // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
            Some((*pid, (ticks(11)? + ticks(12)?) / TICKS_PER_SECOND))
        })
        .collect()
}

/// Resident memory (current and peak, MiB) of each process, and the CPU it used between the two
/// readings (seconds, and cores over `seconds` of wall time).
pub fn report(
    pids: &[u32],
    before: &HashMap<u32, f64>,
    after: &HashMap<u32, f64>,
    seconds: f64,
) -> Value {
    let report: Vec<Value> = pids
        .iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let kib = |key: &str| -> Option<f64> {
                let line = status.lines().find(|l| l.starts_with(key))?;
                line.split_whitespace().nth(1)?.parse::<f64>().ok()
            };
            let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            let cpu = after.get(pid).zip(before.get(pid)).map(|(a, b)| a - b);
            Some(json!({
                "pid": pid,
                "command": cmdline.trim(),
                "rss_mib": (kib("VmRSS:")? / 1024.0).round(),
                "peak_rss_mib": (kib("VmHWM:")? / 1024.0).round(),
                "cpu_s_while_sending": cpu.map(|c| (c * 100.0).round() / 100.0),
                "cores_while_sending": cpu.map(|c| (c / seconds.max(1e-9) * 100.0).round() / 100.0),
            }))
        })
        .collect();
    Value::Array(report)
}

/// Every `cultfit serve` process on this machine.
fn serve_processes() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"cultfit")) && args.contains(&&b"serve"[..])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_reports_its_memory_and_cpu() {
        let me = [std::process::id()];
        let before = cpu_seconds(&me);
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        let after = cpu_seconds(&me);
        let report = report(&me, &before, &after, 1.0);
        assert!(
            report[0]["rss_mib"].as_f64().is_some_and(|m| m > 0.0),
            "{report} {x}"
        );
        assert!(
            report[0]["cpu_s_while_sending"]
                .as_f64()
                .is_some_and(|c| c >= 0.0)
        );
    }
}
