//! CPU and memory of the supervised FFmpeg processes, of onair itself and of
//! the host, sampled about once a second.
//!
//! Only the PIDs onair owns are refreshed: walking every process of the
//! machine each second would cost more than everything else onair does.

use super::snapshot::HostStats;
use std::collections::HashMap;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// CPU (percent of one core) and resident memory (bytes) of one process.
pub(crate) type Usage = (f32, u64);

/// Keeps the previous sample that per-process CPU percentages are measured against.
pub(crate) struct Sampler {
    system: Option<System>,
    own_pid: Pid,
}

impl Sampler {
    pub(crate) fn new() -> Self {
        Sampler {
            system: System::new().ok(),
            own_pid: Pid::from_u32(std::process::id()),
        }
    }

    /// Takes one sample. The first sample of a process reads 0 % CPU: a
    /// percentage needs two samples.
    pub(crate) fn sample(&mut self, pids: &[u32]) -> (HostStats, HashMap<u32, Usage>) {
        let Some(system) = self.system.as_mut() else {
            return (HostStats::default(), HashMap::new());
        };
        let mut watched: Vec<Pid> = pids.iter().map(|p| Pid::from_u32(*p)).collect();
        watched.push(self.own_pid);
        // A process's own figures already include its threads: listing
        // them (`/proc/PID/task`) would only cost a directory walk each.
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&watched),
            true,
            ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory()
                .without_tasks(),
        );
        system.refresh_cpu_usage();
        system.refresh_memory();
        let usage = pids
            .iter()
            .filter_map(|pid| {
                system
                    .process(Pid::from_u32(*pid))
                    .map(|p| (*pid, (p.cpu_usage(), p.memory())))
            })
            .collect();
        let (onair_cpu_percent, onair_rss_bytes) = system
            .process(self.own_pid)
            .map_or((0.0, 0), |p| (p.cpu_usage(), p.memory()));
        let host = HostStats {
            cpu_percent: system.global_cpu_usage(),
            cores: system.cpus().len(),
            mem_used_bytes: system.used_memory(),
            mem_total_bytes: system.total_memory(),
            onair_cpu_percent,
            onair_rss_bytes,
        };
        (host, usage)
    }
}
