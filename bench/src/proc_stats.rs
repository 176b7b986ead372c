//! CPU time and resident memory of a process, from /proc.

/// User + system CPU seconds of `pid` and its children that were waited for.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the command name (which may contain spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime, stime, cutime, cstime are fields 14–17 (1-based); here offset by 2.
    (ticks(11) + ticks(12) + ticks(13) + ticks(14)) / 100.0
}

/// CPU seconds of `pid` and all its live descendants (spin runs triggers as children).
pub fn tree_cpu_seconds(pid: u32) -> f64 {
    descendants(pid).into_iter().chain(std::iter::once(pid)).map(cpu_seconds).sum()
}

pub fn tree_rss_mb(pid: u32) -> f64 {
    descendants(pid)
        .into_iter()
        .chain(std::iter::once(pid))
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                })
                .unwrap_or(0.0)
                / 1024.0
        })
        .sum()
}

fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        let Ok(children) = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")) else { continue };
        for child in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
            out.push(child);
            frontier.push(child);
        }
    }
    out
}
