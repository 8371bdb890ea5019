//! Reading a container's resource usage from its cgroup, v1 (one directory per controller) or
//! v2 (one directory), into [`api::shim::CgroupStats`]. Missing files read as zero: a
//! controller may be absent (v2 without `io` delegated) or the cgroup already gone.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use api::shim::CgroupStats;

use crate::cgroup::Cgroup;

/// USER_HZ: the unit of v1's `cpuacct.stat` ticks.
const USER_HZ: u64 = 100;
/// v1 reports "no limit" as a huge page-aligned number.
const V1_UNLIMITED: u64 = 1 << 62;

fn read(dir: Option<&Path>, file: &str) -> String {
    dir.and_then(|d| fs::read_to_string(d.join(file)).ok())
        .unwrap_or_default()
}

fn number(dir: Option<&Path>, file: &str) -> u64 {
    read(dir, file).trim().parse().unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat).
fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn major_minor(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl Cgroup {
    /// The cgroup's current usage.
    pub fn stats(&self) -> CgroupStats {
        let mut s = CgroupStats {
            pids: self.pids(),
            ..Default::default()
        };
        if self.is_v2() {
            let d = self.controller_dir("cpu");
            let cpu = flat_keyed(&read(d, "cpu.stat"));
            let get = |k: &str| cpu.get(k).copied().unwrap_or(0);
            s.cpu_total = get("usage_usec") * 1000;
            s.cpu_user = get("user_usec") * 1000;
            s.cpu_system = get("system_usec") * 1000;
            s.throttling = [
                get("nr_periods"),
                get("nr_throttled"),
                get("throttled_usec") * 1000,
            ];
            s.memory_usage = number(d, "memory.current");
            s.memory_max_usage = number(d, "memory.peak");
            s.memory_limit = number(d, "memory.max"); // "max" parses as 0: unlimited
            s.memory_stat = flat_keyed(&read(d, "memory.stat"));
            s.pids_current = number(d, "pids.current");
            s.pids_limit = number(d, "pids.max");
            for line in read(d, "io.stat").lines() {
                let mut f = line.split_whitespace();
                let Some((major, minor)) = f.next().and_then(major_minor) else {
                    continue;
                };
                for kv in f {
                    let (op, key) = match kv.split_once('=') {
                        Some(("rbytes", v)) => ("read", v),
                        Some(("wbytes", v)) => ("write", v),
                        _ => continue,
                    };
                    s.io_bytes
                        .push((major, minor, op.to_string(), key.parse().unwrap_or(0)));
                }
            }
            return s;
        }
        let acct = self.controller_dir("cpuacct");
        s.cpu_total = number(acct, "cpuacct.usage");
        s.cpu_percpu = read(acct, "cpuacct.usage_percpu")
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let ticks = flat_keyed(&read(acct, "cpuacct.stat"));
        let ns_per_tick = 1_000_000_000 / USER_HZ;
        s.cpu_user = ticks.get("user").copied().unwrap_or(0) * ns_per_tick;
        s.cpu_system = ticks.get("system").copied().unwrap_or(0) * ns_per_tick;
        let cpu = flat_keyed(&read(self.controller_dir("cpu"), "cpu.stat"));
        let get = |k: &str| cpu.get(k).copied().unwrap_or(0);
        s.throttling = [
            get("nr_periods"),
            get("nr_throttled"),
            get("throttled_time"),
        ];
        let mem = self.controller_dir("memory");
        s.memory_usage = number(mem, "memory.usage_in_bytes");
        s.memory_max_usage = number(mem, "memory.max_usage_in_bytes");
        let limit = number(mem, "memory.limit_in_bytes");
        s.memory_limit = if limit >= V1_UNLIMITED { 0 } else { limit };
        s.memory_stat = flat_keyed(&read(mem, "memory.stat"));
        let pids = self.controller_dir("pids");
        s.pids_current = number(pids, "pids.current");
        s.pids_limit = number(pids, "pids.max");
        let blkio = self.controller_dir("blkio");
        let mut text = read(blkio, "blkio.io_service_bytes_recursive");
        if text.trim().is_empty() || text.trim().starts_with("Total 0") {
            text = read(blkio, "blkio.throttle.io_service_bytes_recursive");
        }
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [dev, op, value] = f.as_slice() else {
                continue;
            };
            let Some((major, minor)) = major_minor(dev) else {
                continue;
            };
            let op = match *op {
                "Read" => "read",
                "Write" => "write",
                _ => continue,
            };
            s.io_bytes
                .push((major, minor, op.to_string(), value.parse().unwrap_or(0)));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_parse() {
        let m = flat_keyed("cache 4096\nrss 8192\nbogus\n");
        assert_eq!(m.get("cache"), Some(&4096));
        assert_eq!(m.get("rss"), Some(&8192));
        assert_eq!(m.len(), 2);
        assert_eq!(major_minor("8:16"), Some((8, 16)));
    }
}
