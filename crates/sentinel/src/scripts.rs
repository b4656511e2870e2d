//! Notification and client-reconfiguration scripts: a bounded queue of jobs run as child
//! processes (at most 16 at once, 256 queued), killed after `script-max-runtime`, retried
//! with a growing delay when they exit with status 1 (at most 10 times), as Redis does.

use crate::log::{self, Level};
use crate::state::{mstime, Timing};
use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};

const MAX_QUEUE: usize = 256;
const MAX_RUNNING: usize = 16;
const MAX_RETRY: u32 = 10;

struct Job {
    path: String,
    args: Vec<String>,
    retry: u32,
    start_time: i64,
    child: Option<Child>,
}

#[derive(Default)]
pub struct Scripts {
    queue: VecDeque<Job>,
}

impl Scripts {
    pub fn schedule(&mut self, path: String, args: Vec<String>) {
        if self.queue.len() >= MAX_QUEUE {
            // Drop the oldest job that is not running.
            if let Some(i) = self.queue.iter().position(|j| j.child.is_none()) {
                self.queue.remove(i);
            } else {
                return;
            }
        }
        self.queue.push_back(Job {
            path,
            args,
            retry: 0,
            start_time: 0,
            child: None,
        });
    }

    /// SENTINEL PENDING-SCRIPTS.
    pub fn describe(&self, r: &mut cinnabar_resp::ReplyBuf) {
        let now = mstime();
        r.array(self.queue.len());
        for j in &self.queue {
            r.map(5);
            r.bulk(b"argv");
            r.array(j.args.len() + 1);
            r.bulk(j.path.as_bytes());
            for a in &j.args {
                r.bulk(a.as_bytes());
            }
            r.bulk(b"flags");
            r.bulk(if j.child.is_some() {
                b"running".as_slice()
            } else {
                b"scheduled".as_slice()
            });
            r.bulk(b"pid");
            r.bulk_int(j.child.as_ref().map(|c| c.id() as i64).unwrap_or(0));
            if j.child.is_some() {
                r.bulk(b"run-time");
                r.bulk_int(now - j.start_time);
            } else {
                r.bulk(b"run-delay");
                let d = if j.start_time != 0 && j.start_time != i64::MAX {
                    (j.start_time - now).max(0)
                } else {
                    0
                };
                r.bulk_int(d);
            }
            r.bulk(b"retry-num");
            r.bulk_int(j.retry as i64);
        }
    }

    pub fn running(&self) -> usize {
        self.queue.iter().filter(|j| j.child.is_some()).count()
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Starts pending jobs, reaps finished ones, kills the ones that ran too long.
    pub fn run(&mut self, t: &Timing) {
        let now = mstime();
        let mut running = self.running();
        for j in self.queue.iter_mut() {
            if running >= MAX_RUNNING {
                break;
            }
            if j.child.is_some() || j.start_time > now {
                continue;
            }
            match Command::new(&j.path)
                .args(&j.args)
                .stdin(Stdio::null())
                .spawn()
            {
                Ok(c) => {
                    j.child = Some(c);
                    j.start_time = now;
                    j.retry += 1;
                    running += 1;
                }
                Err(e) => {
                    log::log(
                        Level::Warning,
                        &format!("Unable to run script {}: {}", j.path, e),
                    );
                    j.retry = MAX_RETRY + 1;
                    j.start_time = i64::MAX;
                }
            }
        }
        let mut keep = VecDeque::new();
        while let Some(mut j) = self.queue.pop_front() {
            if j.retry > MAX_RETRY && j.child.is_none() {
                continue;
            }
            let Some(c) = j.child.as_mut() else {
                keep.push_back(j);
                continue;
            };
            match c.try_wait() {
                Ok(Some(status)) => {
                    let code = status.code().unwrap_or(-1);
                    if code == 1 && j.retry < MAX_RETRY {
                        j.child = None;
                        j.start_time = now + retry_delay(j.retry, t);
                        keep.push_back(j);
                    }
                }
                Ok(None) => {
                    if now - j.start_time > t.script_max_runtime {
                        log::log(
                            Level::Warning,
                            &format!("Killing too long running script {}", j.path),
                        );
                        let _ = c.kill();
                        let _ = c.wait();
                    } else {
                        keep.push_back(j);
                    }
                }
                Err(_) => {}
            }
        }
        self.queue = keep;
    }
}

fn retry_delay(retry: u32, t: &Timing) -> i64 {
    let mut delay = t.script_retry_delay;
    for _ in 1..retry {
        delay = delay.saturating_mul(2);
    }
    delay
}
