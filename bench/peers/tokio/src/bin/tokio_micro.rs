// tokio's side of bench/micro: the same operations, timed the same way (a calibrated batch
// repeated, median reported). Output, one line per benchmark, for bench/micro_compare.py:
//   TOKIO_MICRO <name> <ns per op> <ops timed>
// --min-time S (default 0.1) per repetition, --repetitions N (default 3), --filter SUBSTRING.
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::{broadcast, mpsc, Mutex, Semaphore};

struct Options {
    min_time: f64,
    repetitions: usize,
    filter: String,
}

fn options() -> Options {
    let mut o = Options { min_time: 0.1, repetitions: 3, filter: String::new() };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        match args[i].as_str() {
            "--min-time" => o.min_time = value.parse().unwrap_or_else(|_| usage()),
            "--repetitions" => o.repetitions = value.parse().unwrap_or_else(|_| usage()),
            "--filter" => o.filter = value,
            _ => usage(),
        }
        i += 2;
    }
    o
}

fn usage() -> ! {
    eprintln!("usage: tokio_micro [--min-time S] [--repetitions N] [--filter SUBSTRING]");
    std::process::exit(2);
}

// std::hint::black_box is stable only from Rust 1.66; Debian 12's rustc is 1.63. A volatile
// read keeps the value observed just the same.
fn black_box<T>(x: T) -> T {
    // SAFETY: reads a valid, owned value once, then forgets the original: a move.
    unsafe {
        let r = std::ptr::read_volatile(&x);
        std::mem::forget(x);
        r
    }
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().expect("runtime")
}

// Times `body(n)` (which performs n operations and returns the time they took): n doubles until
// one batch lasts min_time, then the batch is repeated and the median ns/op printed.
fn measure<F>(o: &Options, name: &str, mut body: F)
where
    F: FnMut(u64) -> Duration,
{
    if !name.contains(o.filter.as_str()) {
        return;
    }
    let mut n: u64 = 1;
    loop {
        let t = body(n);
        if t.as_secs_f64() >= o.min_time || n >= 1 << 30 {
            break;
        }
        // Aim straight at min_time, at most 10x per step.
        let scale = (o.min_time / t.as_secs_f64().max(1e-9)).min(10.0).max(2.0);
        n = ((n as f64) * scale) as u64;
    }
    let mut per_op: Vec<f64> = (0..o.repetitions.max(1))
        .map(|_| body(n).as_secs_f64() * 1e9 / n as f64)
        .collect();
    per_op.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("TOKIO_MICRO {} {:.2} {}", name, per_op[per_op.len() / 2], n);
}

// Runs the async body as a spawned task on a fresh current_thread runtime and times it from
// inside. A spawned task, not block_on's own future: that one is polled on a path of its own
// (each wake-up also polls the I/O driver), which is not what a server's tasks pay.
fn on_current_thread<Fut>(body: impl FnOnce() -> Fut) -> Duration
where
    Fut: Future<Output = Duration> + Send + 'static,
{
    current_thread().block_on(async move { tokio::spawn(body()).await.unwrap() })
}

fn main() {
    let o = options();

    // Suspend, go through the scheduler's run queue, resume (corio: coro_yield).
    measure(&o, "yield", |n| {
        on_current_thread(|| async move {
            let start = Instant::now();
            for _ in 0..n {
                tokio::task::yield_now().await;
            }
            start.elapsed()
        })
    });

    // Spawn a trivial task and await its result (corio: coro_spawn_join).
    measure(&o, "spawn_join", |n| {
        on_current_thread(|| async move {
            let start = Instant::now();
            for _ in 0..n {
                black_box(tokio::spawn(async { 1 }).await.unwrap());
            }
            start.elapsed()
        })
    });

    // A sleep armed in the timer wheel (a Sleep registers on its first poll) and dropped:
    // arm + cancel with nothing around it (corio: callback_timeout_arm_cancel, asio:
    // asio_steady_timer_arm_cancel).
    // An earlier timer stays armed throughout: with none, tokio wakes its driver (an eventfd
    // write) for every sleep that becomes the earliest, which a busy server rarely pays.
    measure(&o, "sleep_arm_cancel", |n| {
        on_current_thread(|| async move {
            let anchor = tokio::time::sleep(Duration::from_secs(60));
            tokio::pin!(anchor);
            tokio::select! {
                biased;
                _ = &mut anchor => unreachable!(),
                _ = std::future::ready(()) => {}
            }
            tokio::task::yield_now().await; // the driver turns once and learns its next wake
            let start = Instant::now();
            for _ in 0..n {
                let sleep = tokio::time::sleep(Duration::from_secs(3600));
                tokio::pin!(sleep);
                tokio::select! {
                    biased;
                    _ = &mut sleep => unreachable!(),
                    _ = std::future::ready(()) => {}
                }
            }
            start.elapsed()
        })
    });

    // The shape of corio's coro_sleep_arm_cancel/1000: 1000 tasks each sleeping an hour,
    // spawned, let run once (so each arms its timer), aborted, joined. ns per task.
    const TIMERS: u64 = 1000;
    measure(&o, "task_sleep_arm_cancel_1000", |n| {
        let batches = (n + TIMERS - 1) / TIMERS;
        let d = on_current_thread(|| async move {
            let anchor = tokio::spawn(tokio::time::sleep(Duration::from_secs(60)));
            tokio::task::yield_now().await;
            let mut handles = Vec::with_capacity(TIMERS as usize);
            let start = Instant::now();
            for _ in 0..batches {
                for _ in 0..TIMERS {
                    handles.push(tokio::spawn(tokio::time::sleep(Duration::from_secs(3600))));
                }
                tokio::task::yield_now().await;
                for h in &handles {
                    h.abort();
                }
                for h in handles.drain(..) {
                    let _ = h.await;
                }
            }
            let d = start.elapsed();
            anchor.abort();
            d
        });
        d.mul_f64(n as f64 / (batches * TIMERS) as f64)
    });

    // Send then receive on the same task: no task switch (a bounded channel with room).
    measure(&o, "channel_send_recv_same_task", |n| {
        on_current_thread(|| async move {
            let (tx, mut rx) = mpsc::channel::<i32>(1024);
            let start = Instant::now();
            for _ in 0..n {
                tx.send(1).await.unwrap();
                black_box(rx.recv().await);
            }
            start.elapsed()
        })
    });

    // One round trip between two tasks on one thread (corio: channel_ping_pong_one_thread).
    measure(&o, "channel_ping_pong_one_thread", |n| {
        on_current_thread(|| async move {
            let (to_pong, mut pong_in) = mpsc::channel::<i32>(1);
            let (to_ping, mut ping_in) = mpsc::channel::<i32>(1);
            let pong = tokio::spawn(async move {
                while let Some(v) = pong_in.recv().await {
                    if to_ping.send(v).await.is_err() {
                        break;
                    }
                }
            });
            let start = Instant::now();
            for _ in 0..n {
                to_pong.send(1).await.unwrap();
                black_box(ping_in.recv().await);
            }
            let d = start.elapsed();
            drop(to_pong);
            pong.await.unwrap();
            d
        })
    });

    // One send reaching 8 subscribers, each of which receives it (same task). ns per send.
    measure(&o, "broadcast_send_8_subscribers", |n| {
        on_current_thread(|| async move {
            let (tx, rx) = broadcast::channel::<i32>(16);
            let mut subs: Vec<broadcast::Receiver<i32>> = (0..8).map(|_| tx.subscribe()).collect();
            drop(rx);
            let start = Instant::now();
            for _ in 0..n {
                tx.send(1).unwrap();
                for s in subs.iter_mut() {
                    black_box(s.recv().await.unwrap());
                }
            }
            start.elapsed()
        })
    });

    measure(&o, "mutex_lock_unlock", |n| {
        on_current_thread(|| async move {
            let m = Mutex::new(0u64);
            let start = Instant::now();
            for _ in 0..n {
                *m.lock().await += 1;
            }
            black_box(*m.lock().await);
            start.elapsed()
        })
    });

    measure(&o, "semaphore_acquire_release", |n| {
        on_current_thread(|| async move {
            let s = Semaphore::new(4);
            let start = Instant::now();
            for _ in 0..n {
                drop(s.acquire().await.unwrap());
            }
            start.elapsed()
        })
    });

    // Two producers and two consumers on a 2-worker runtime. tokio has no mpmc channel and the
    // vendored crates include no async one (async-channel, flume), so the consumers share the
    // mpsc receiver behind a tokio Mutex: the usual workaround. ns per message, wall clock.
    measure(&o, "mpmc_two_workers", |n| {
        let rt = Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let (tx, rx) = mpsc::channel::<u64>(1024);
            let rx = Arc::new(Mutex::new(rx));
            let start = Instant::now();
            let producers: Vec<_> = (0..2u64)
                .map(|p| {
                    let tx = tx.clone();
                    let count = n / 2 + if p == 0 { n % 2 } else { 0 };
                    tokio::spawn(async move {
                        for i in 0..count {
                            tx.send(i).await.unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = rx.clone();
                    tokio::spawn(async move {
                        let mut got = 0u64;
                        while rx.lock().await.recv().await.is_some() {
                            got += 1;
                        }
                        got
                    })
                })
                .collect();
            for p in producers {
                p.await.unwrap();
            }
            let mut total = 0;
            for c in consumers {
                total += c.await.unwrap();
            }
            assert_eq!(total, n);
            start.elapsed()
        })
    });
}
