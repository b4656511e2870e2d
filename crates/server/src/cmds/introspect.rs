//! INFO and COMMAND: what the server says about itself, with Redis 7.0's section and field
//! names. Figures Cinnabar does not have yet are left out rather than invented.

use crate::client::Client;
use crate::server::{now_ms, now_us, Server};
use cinnabar_commands::table::{self, Begin, CommandSpec, Find};
use cinnabar_resp::{Args, ReplyBuf};
use std::fmt::Write;
use std::sync::atomic::Ordering;

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

fn rusage(who: i32) -> (f64, f64) {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live local.
    unsafe { libc::getrusage(who, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

/// (allocated, resident) bytes from the allocator, 0 when unavailable.
pub fn allocator_stats() -> (u64, u64) {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    let a = tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64;
    let r = tikv_jemalloc_ctl::stats::resident::read().unwrap_or(0) as u64;
    (a, r)
}

/// The process's resident set size from /proc (bytes).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|x| x.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// Human-readable bytes as Redis's bytesToHuman prints them.
pub fn human(n: u64) -> String {
    let d = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.2}K", d / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.2}M", d / (1024.0 * 1024.0))
    } else if n < 1024u64.pow(4) {
        format!("{:.2}G", d / 1024f64.powi(3))
    } else {
        format!("{:.2}T", d / 1024f64.powi(4))
    }
}

fn inst_rate(samples: &[(i64, u64)]) -> f64 {
    if samples.len() < 2 {
        return 0.0;
    }
    let (t0, v0) = samples[0];
    let (t1, v1) = samples[samples.len() - 1];
    if t1 <= t0 {
        return 0.0;
    }
    (v1.saturating_sub(v0)) as f64 * 1000.0 / (t1 - t0) as f64
}

/// Builds the INFO text for the requested sections.
pub fn info_text(s: &Server, sections: &[String]) -> String {
    let mut want: Vec<String> = Vec::new();
    let mut all = false;
    let mut everything = false;
    if sections.is_empty() {
        want.extend(DEFAULT_SECTIONS.iter().map(|x| x.to_string()));
    }
    for sec in sections {
        match sec.as_str() {
            "default" => want.extend(DEFAULT_SECTIONS.iter().map(|x| x.to_string())),
            "all" => all = true,
            "everything" => everything = true,
            other => want.push(other.to_string()),
        }
    }
    if all || everything {
        want.extend(DEFAULT_SECTIONS.iter().map(|x| x.to_string()));
        want.push("commandstats".into());
        want.push("latencystats".into());
    }
    let has = |n: &str| want.iter().any(|w| w == n);
    let mut out = String::new();
    let section = |out: &mut String, title: &str| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n");
    };
    let now = now_ms();
    let uptime = (now / 1000 - s.start_unix).max(0);
    if has("server") {
        section(&mut out, "Server");
        let us = now_us();
        let _ = write!(
            out,
            "redis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\ncinnabar_version:{}\r\n",
            crate::REDIS_VERSION,
            os_string(),
            std::process::id(),
            s.run_id,
            s.bound_port,
            us,
            uptime,
            uptime / 86400,
            s.hz,
            s.settings.hz,
            (now / 1000) & ((1 << 24) - 1),
            s.executable,
            s.config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            env!("CARGO_PKG_VERSION"),
        );
        out.push_str(&crate::shutdown::info_line(s));
    }
    if has("clients") {
        section(&mut out, "Clients");
        let mut max_in = 0;
        let mut max_out = 0;
        for h in s.clients.values() {
            let i = h.info.borrow();
            max_in = max_in.max(i.qbuf);
            max_out = max_out.max(i.omem);
        }
        let _ = write!(
            out,
            "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n",
            // Replicas are not counted, as in Redis.
            s.clients.len().saturating_sub(s.replicas.len()),
            s.settings.maxclients,
            max_in,
            max_out,
            // Clients waiting in SHUTDOWN for the replicas are blocked too.
            s.blocked.len()
                + s.paused_clients
                + s.shutdown_pending
                    .as_ref()
                    .map_or(0, |p| p.waiters.len()),
            s.tracking.clients,
            s.blocked
                .waiters
                .values()
                .filter(|w| w.deadline_ms > 0)
                .count()
        );
    }
    if has("memory") {
        section(&mut out, "Memory");
        let (alloc, resident) = allocator_stats();
        let used = crate::memory::used();
        let peak = crate::memory::peak();
        let rss = rss_bytes();
        let maxmemory = s.settings.maxmemory;
        let policy = crate::evict::policy_name(s.settings.maxmemory_policy);
        let frag = if used > 0 {
            rss as f64 / used as f64
        } else {
            0.0
        };
        let not_counted = used.saturating_sub(crate::evict::counted_memory(s));
        let _ = write!(
            out,
            "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nallocator_allocated:{alloc}\r\nallocator_resident:{resident}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{policy}\r\nmem_fragmentation_ratio:{frag:.2}\r\nmem_not_counted_for_evict:{not_counted}\r\nmem_allocator:jemalloc\r\nlazyfree_pending_objects:{}\r\nlazyfreed_objects:{}\r\n",
            human(used),
            human(rss),
            human(peak),
            human(maxmemory),
            cinnabar_keyspace::lazyfree::pending(),
            cinnabar_keyspace::lazyfree::freed(),
        );
        // The one replication buffer (shared by the replicas and the backlog).
        // What replicas still have to read beyond the backlog is their buffers' share.
        let rb = s.repl_buf.mem() as u64;
        let slaves = if s.replicas.is_empty() {
            0
        } else {
            not_counted
        };
        let backlog = rb - slaves;
        let _ = write!(
            out,
            "mem_replication_backlog:{backlog}\r\nmem_total_replication_buffers:{rb}\r\nmem_clients_slaves:{slaves}\r\nmem_clients_normal:{}\r\n",
            // The running total maxmemory-clients is checked against (client_evict.rs).
            s.clients_mem
        );
        out.push_str(&crate::script::info_memory(s));
    }
    if has("persistence") {
        section(&mut out, "Persistence");
        out.push_str(&crate::persist::info(s));
    }
    if has("stats") {
        section(&mut out, "Stats");
        let st = &s.stats;
        let ks = &s.ks.stats;
        let expired: u64 = ks.expired + s.ks.dbs.iter().map(|d| d.expired_total).sum::<u64>();
        let _ = write!(
            out,
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:{}\r\ntotal_eviction_exceeded_time:{}\r\ncurrent_eviction_exceeded_time:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:{}\r\ntotal_forks:{}\r\nmigrate_cached_sockets:{}\r\nslave_expires_tracked_keys:{}\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nunexpected_error_replies:{}\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\nclient_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n",
            st.total_connections_received,
            st.total_commands_processed,
            inst_rate(&st.ops_samples) as u64,
            st.net_input_bytes,
            st.net_output_bytes,
            inst_rate(&st.net_in_samples) / 1024.0,
            inst_rate(&st.net_out_samples) / 1024.0,
            st.rejected_connections,
            st.sync_full,
            st.sync_partial_ok,
            st.sync_partial_err,
            expired,
            ks.expired_stale_perc * 100.0,
            ks.expire_cycle_time_used_us / 1000,
            s.evict.evicted_keys,
            s.stats.evicted_clients,
            s.evict.exceeded_total_ms
                + s.evict
                    .exceeded_since
                    .map_or(0, |t| t.elapsed().as_millis() as u64),
            s.evict
                .exceeded_since
                .map_or(0, |t| t.elapsed().as_millis() as u64),
            ks.hits,
            ks.misses,
            s.pubsub.channels.len(),
            s.pubsub.patterns.len(),
            s.pubsub.shard_channels.len(),
            s.persist.last_job_start_us,
            s.persist.jobs_started,
            s.migrate_cache.len(),
            s.ks.dbs
                .iter()
                .map(|d| d.replica_ttl_keys.len())
                .sum::<usize>(),
            s.tracking.total_keys(),
            s.tracking.total_items(),
            s.tracking.total_prefixes(),
            st.unexpected_error_replies,
            st.total_error_replies,
            st.client_qbuf_limit_disconnections,
            st.client_obuf_limit_disconnections,
        );
        // Denied by ACL (fields Redis 7.2 added; kept apart from the 7.0 list above).
        let a = &s.acl;
        let _ = write!(
            out,
            "acl_access_denied_auth:{}\r\nacl_access_denied_cmd:{}\r\nacl_access_denied_key:{}\r\nacl_access_denied_channel:{}\r\n",
            a.denied_auth, a.denied_cmd, a.denied_key, a.denied_channel
        );
    }
    if has("replication") {
        section(&mut out, "Replication");
        match &s.master {
            Some(m) => out.push_str(&crate::replica::info_lines(s, m)),
            None => out.push_str("role:master\r\n"),
        }
        // Replicas waiting for their snapshot to start are listed too (wait_bgsave), as Redis.
        let listed: Vec<u64> = s
            .replicas
            .iter()
            .copied()
            .chain(
                s.pending_syncs
                    .iter()
                    .filter(|p| !p.rdb_only && !p.tx.is_closed())
                    .map(|p| p.client),
            )
            .collect();
        let _ = write!(out, "connected_slaves:{}\r\n", listed.len());
        let mut max_obuf = 0u64;
        for (i, id) in listed.iter().enumerate() {
            if let Some(h) = s.clients.get(id) {
                let ip = h
                    .addr
                    .rsplit_once(':')
                    .map_or(h.addr.as_str(), |(ip, _)| ip);
                let obuf = if s.replicas.contains(id) {
                    s.repl_buf.end_offset().saturating_sub(h.repl_off.get())
                } else {
                    0
                };
                max_obuf = max_obuf.max(obuf);
                // With an rdb-channel full sync, the snapshot connection tells the phase.
                let peer = match h.rdbchan_peer.get() {
                    0 => None,
                    p => s.clients.get(&p).filter(|p| p.snapshot_only.get()),
                };
                let (phase, sent) = match peer {
                    Some(p) => (p.sync_phase.get().max(1), p.sync_sent.get()),
                    None => (h.sync_phase.get(), h.sync_sent.get()),
                };
                let acked = h.repl_ack_off.get() >= 0;
                let phase_name = match phase {
                    1 => "waiting",
                    2 => "snapshot",
                    3 => "loading",
                    _ if acked => "online",
                    _ => "loading",
                };
                let (raw, wire) = [Some(h), peer].into_iter().flatten().fold((0, 0), |a, x| {
                    (a.0 + x.repl_bytes.raw.get(), a.1 + x.repl_bytes.wire.get())
                });
                let _ = write!(
                    out,
                    "slave{i}:ip={ip},port={},state={},offset={},lag={},output_buffer={obuf},sync_phase={phase_name},sync_sent_bytes={sent},channels={},compression={},raw_bytes={raw},wire_bytes={wire}\r\n",
                    h.repl_port.get(),
                    if acked { "online" } else { "wait_bgsave" },
                    h.repl_ack_off.get().max(0),
                    h.repl_ack_time.get().elapsed().as_secs(),
                    if peer.is_some() { 2 } else { 1 },
                    if h.repl_zstd.get() { "zstd" } else { "none" },
                );
            }
        }
        let _ = write!(out, "replicas_max_output_buffer:{max_obuf}\r\n");
        out.push_str(&crate::throttle::info(s));
        let _ = write!(
            out,
            "{}master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
            if s.settings.min_replicas_to_write > 0 && s.settings.min_replicas_max_lag > 0 {
                format!("min_slaves_good_slaves:{}\r\n", crate::cmds::good_replicas(s))
            } else {
                String::new()
            },
            crate::replica::failover_state(s),
            s.replid,
            s.replid2,
            s.prop.offset,
            s.second_repl_offset,
            s.repl_buf.active as u8,
            s.cfg
                .get_value("repl-backlog-size")
                .unwrap_or_else(|| "1048576".into()),
            if s.repl_buf.active { s.repl_buf.first_offset() + 1 } else { 0 },
            s.repl_buf.histlen()
        );
    }
    if has("cpu") {
        section(&mut out, "CPU");
        let (sys, user) = rusage(libc::RUSAGE_SELF);
        let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
        let _ = write!(
            out,
            "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{csys:.6}\r\nused_cpu_user_children:{cuser:.6}\r\nused_cpu_sys_main_thread:{sys:.6}\r\nused_cpu_user_main_thread:{user:.6}\r\n"
        );
    }
    if has("modules") {
        section(&mut out, "Modules");
    }
    if has("module_list") && !has("modules") && (all || everything || sections.is_empty()) {
        // Redis prints the module list under "# Modules" in the default output.
        section(&mut out, "Modules");
    }
    if has("commandstats") {
        section(&mut out, "Commandstats");
        let mut specs = table::all_specs();
        specs.sort_by(|a, b| a.fullname.cmp(&b.fullname));
        for c in specs {
            let calls = c.stats.calls.load(Ordering::Relaxed);
            let rej = c.stats.rejected.load(Ordering::Relaxed);
            let failed = c.stats.failed.load(Ordering::Relaxed);
            if calls == 0 && rej == 0 && failed == 0 {
                continue;
            }
            let usec = c.stats.usec.load(Ordering::Relaxed);
            let per = if calls > 0 {
                usec as f64 / calls as f64
            } else {
                0.0
            };
            let _ = write!(
                out,
                "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rej},failed_calls={failed}\r\n",
                c.fullname
            );
        }
    }
    if has("latencystats") {
        section(&mut out, "Latencystats");
        let mut specs = table::all_specs();
        specs.sort_by(|a, b| a.fullname.cmp(&b.fullname));
        for c in specs {
            let Some(Some(h)) = s.latency.get(c.index) else {
                continue;
            };
            if h.count() == 0 {
                continue;
            }
            let parts: Vec<String> = s
                .settings
                .latency_percentiles
                .iter()
                .map(|p| {
                    format!(
                        "p{}={:.3}",
                        crate::cmds::introspect::fmt_pct(*p),
                        h.percentile(*p) as f64 / 1000.0
                    )
                })
                .collect();
            let _ = write!(
                out,
                "latency_percentiles_usec_{}:{}\r\n",
                c.fullname,
                parts.join(",")
            );
        }
    }
    if has("errorstats") {
        section(&mut out, "Errorstats");
        for (code, n) in &s.stats.error_codes {
            let _ = write!(out, "errorstat_{code}:count={n}\r\n");
        }
    }
    if has("cluster") {
        section(&mut out, "Cluster");
        out.push_str("cluster_enabled:0\r\n");
    }
    if has("keyspace") {
        section(&mut out, "Keyspace");
        for (i, db) in s.ks.dbs.iter().enumerate() {
            if db.is_empty() {
                continue;
            }
            let _ = write!(
                out,
                "db{i}:keys={},expires={},avg_ttl={}\r\n",
                db.len(),
                db.expires.len(),
                db.avg_ttl
            );
        }
    }
    out
}

/// A percentile as Redis prints it in latencystats (`%f` with trailing zeros trimmed).
pub fn fmt_pct(p: f64) -> String {
    let s = format!("{p:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn os_string() -> String {
    // SAFETY: an all-zero utsname is valid; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: pointer to a live local.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".into();
    }
    let f = |a: &[libc::c_char]| {
        let b: Vec<u8> = a
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    format!("{} {} {}", f(&u.sysname), f(&u.release), f(&u.machine))
}

/// INFO [section ...]
pub fn info(s: &mut Server, c: &mut Client, a: Args) {
    let secs: Vec<String> = a
        .tail(1)
        .iter()
        .map(|x| String::from_utf8_lossy(x).to_ascii_lowercase())
        .collect();
    let text = info_text(s, &secs);
    c.reply.verbatim(text.as_bytes(), "txt");
}

fn command_entry(r: &mut ReplyBuf, c: &CommandSpec) {
    r.array(10);
    r.bulk(c.fullname.as_bytes());
    r.int(c.def.arity as i64);
    let flags = c.flag_names();
    r.set(flags.len());
    for f in flags {
        r.simple(f);
    }
    r.int(c.def.first_key as i64);
    r.int(c.def.last_key as i64);
    r.int(c.def.step as i64);
    let acl = c.acl_names();
    r.set(acl.len());
    for x in acl {
        r.simple(&x);
    }
    let tips = c.tips();
    r.set(tips.len());
    for t in tips {
        r.bulk(t.as_bytes());
    }
    let specs = c.key_specs();
    r.set(specs.len());
    for k in specs {
        r.map(3 + usize::from(!k.notes.is_empty()));
        if !k.notes.is_empty() {
            r.bulk(b"notes");
            r.bulk(k.notes.as_bytes());
        }
        r.bulk(b"flags");
        let flags: Vec<&str> = k.flags.split_whitespace().collect();
        r.set(flags.len());
        for f in flags {
            r.simple(f);
        }
        r.bulk(b"begin_search");
        r.map(2);
        r.bulk(b"type");
        match k.begin {
            Begin::Index(i) => {
                r.bulk(b"index");
                r.bulk(b"spec");
                r.map(1);
                r.bulk(b"index");
                r.int(i as i64);
            }
            Begin::Keyword(kw, from) => {
                r.bulk(b"keyword");
                r.bulk(b"spec");
                r.map(2);
                r.bulk(b"keyword");
                r.bulk(kw.as_bytes());
                r.bulk(b"startfrom");
                r.int(from as i64);
            }
            Begin::Unknown => {
                r.bulk(b"unknown");
                r.bulk(b"spec");
                r.map(0);
            }
        }
        r.bulk(b"find_keys");
        r.map(2);
        r.bulk(b"type");
        match k.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                r.bulk(b"range");
                r.bulk(b"spec");
                r.map(3);
                r.bulk(b"lastkey");
                r.int(lastkey as i64);
                r.bulk(b"keystep");
                r.int(keystep as i64);
                r.bulk(b"limit");
                r.int(limit as i64);
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                r.bulk(b"keynum");
                r.bulk(b"spec");
                r.map(3);
                r.bulk(b"keynumidx");
                r.int(keynumidx as i64);
                r.bulk(b"firstkey");
                r.int(firstkey as i64);
                r.bulk(b"keystep");
                r.int(keystep as i64);
            }
            Find::Unknown => {
                r.bulk(b"unknown");
                r.bulk(b"spec");
                r.map(0);
            }
        }
    }
    let mut subs: Vec<&CommandSpec> = c.subcommands.values().collect();
    subs.sort_by(|a, b| a.fullname.cmp(&b.fullname));
    // Redis answers an empty set when there are no subcommands, else an array.
    if subs.is_empty() {
        r.set(0);
    } else {
        r.array(subs.len());
    }
    for s in subs {
        command_entry(r, s);
    }
}

/// COMMAND
pub fn command_all(c: &mut Client) {
    let t = table::table();
    c.reply.array(t.len());
    for spec in t.values() {
        command_entry(&mut c.reply, spec);
    }
}

fn find_by_fullname(name: &[u8]) -> Option<&'static CommandSpec> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    let mut parts = lower.splitn(2, '|');
    let top = table::table().get(parts.next()?)?;
    match parts.next() {
        Some(sub) => top.subcommands.get(sub),
        None => Some(top),
    }
}

/// COMMAND INFO [name ...]
pub fn command_info(c: &mut Client, a: Args) {
    if a.len() == 2 {
        return command_all(c);
    }
    c.reply.array(a.len() - 2);
    for n in a.tail(2).iter() {
        match find_by_fullname(n) {
            Some(spec) => command_entry(&mut c.reply, spec),
            None => c.reply.null(),
        }
    }
}

fn doc_entry(r: &mut ReplyBuf, c: &CommandSpec) {
    let subs: Vec<&CommandSpec> = c.subcommands.values().collect();
    // Only what the table knows (summary, since, group); complexity and argument docs are not
    // in the table, so they are left out rather than invented.
    let n = 3 + usize::from(!subs.is_empty());
    r.map(n);
    r.bulk(b"summary");
    r.bulk(c.def.summary.as_bytes());
    r.bulk(b"since");
    r.bulk(c.def.since.as_bytes());
    r.bulk(b"group");
    r.bulk(c.def.group.as_bytes());
    if !subs.is_empty() {
        r.bulk(b"subcommands");
        r.map(subs.len());
        for s in subs {
            r.bulk(s.fullname.as_bytes());
            doc_entry(r, s);
        }
    }
}

/// COMMAND DOCS [name ...]
pub fn command_docs(c: &mut Client, a: Args) {
    let specs: Vec<&CommandSpec> = if a.len() == 2 {
        table::table().values().collect()
    } else {
        a.tail(2).iter().filter_map(find_by_fullname).collect()
    };
    c.reply.map(specs.len());
    for s in specs {
        c.reply.bulk(s.fullname.as_bytes());
        doc_entry(&mut c.reply, s);
    }
}

/// COMMAND GETKEYS command arg ... and COMMAND GETKEYSANDFLAGS command arg ...
pub fn command_getkeys(c: &mut Client, a: Args, with_flags: bool) {
    let inner = a.tail(2);
    let Some(mut spec) = table::lookup(inner.get(0)) else {
        return c.reply.error("ERR Invalid command specified");
    };
    if !spec.subcommands.is_empty() && inner.len() >= 2 {
        if let Some(sub) = table::lookup_sub(spec, inner.get(1)) {
            spec = sub;
        }
    }
    if spec.key_specs().is_empty() && spec.def.first_key <= 0 {
        return c.reply.error("ERR The command has no key arguments");
    }
    if !spec.arity_ok(inner.len()) {
        return c
            .reply
            .error("ERR Invalid number of arguments specified for command");
    }
    let args: Vec<&[u8]> = inner.iter().collect();
    let keys = match spec.keys_with_flags(&args) {
        Ok(k) if !k.is_empty() => k,
        _ if spec.has(table::flag::NO_MANDATORY_KEYS) => Vec::new(),
        _ => return c.reply.error("ERR Invalid arguments specified for command"),
    };
    c.reply.array(keys.len());
    for (p, flags) in keys {
        if with_flags {
            c.reply.array(2);
            c.reply.bulk(args[p]);
            let f: Vec<&str> = flags
                .split_whitespace()
                .filter(|f| *f != "variable_flags")
                .collect();
            c.reply.set(f.len());
            for x in f {
                c.reply.simple(x);
            }
        } else {
            c.reply.bulk(args[p]);
        }
    }
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT cat | PATTERN pat]: every command and
/// subcommand by full name, as Redis lists them.
pub fn command_list(c: &mut Client, a: Args) {
    let mut specs = table::all_specs();
    if a.len() == 5 && a.get(2).eq_ignore_ascii_case(b"filterby") {
        let kind = a.get(3).to_ascii_lowercase();
        let v = a.get(4);
        match kind.as_slice() {
            b"pattern" => {
                specs.retain(|s| cinnabar_util::glob::glob_match(v, s.fullname.as_bytes(), true));
            }
            b"aclcat" => {
                let cat = String::from_utf8_lossy(v).to_ascii_lowercase();
                specs.retain(|s| s.acl_names().iter().any(|x| x[1..] == cat));
            }
            b"module" => specs.clear(),
            _ => return c.reply.error("ERR syntax error"),
        }
    } else if a.len() != 2 {
        return c.reply.error("ERR syntax error");
    }
    c.reply.array(specs.len());
    for s in specs {
        c.reply.bulk(s.fullname.as_bytes());
    }
}

/// COMMAND HELP
pub fn command_help(c: &mut Client) {
    super::help_reply(
        c,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
}
