//! Helpers for `scripts/bench-scale.sh`: build a fleet in a registry, push sized images
//! for a train, and measure the console in process (time to its first rows and how long
//! keys take to answer while the matrix loads).
//!
//! ```text
//! bench_scale fleet ADDR SERVICES [COMMIT...]     # 3 environments, shared layout
//! bench_scale images ADDR PREFIX COUNT BYTES      # COUNT images of one BYTES layer each
//! bench_scale console CONFIG ROUNDS               # the console on CONFIG, ROUNDS opens
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gantry::config::keys::KeyChord;
use gantry::config::Config;
use gantry::sandbox::{build_fleet, push_sized_image, FleetSpec};
use gantry::tui::console::{Console, Msg};
use gantry::tui::theme::Theme;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fleet") => fleet(&args[1..]),
        Some("images") => images(&args[1..]),
        Some("console") => console(&args[1..]),
        _ => Err("usage: bench_scale fleet|images|console ... (see the file's header)".into()),
    };
    if let Err(e) = result {
        eprintln!("bench_scale: {e}");
        std::process::exit(1);
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, String> {
    args.get(i)
        .ok_or_else(|| format!("missing {what}"))?
        .parse()
        .map_err(|_| format!("{what}: not valid"))
}

fn fleet(args: &[String]) -> Result<(), String> {
    let addr: String = arg(args, 0, "ADDR")?;
    let services: usize = arg(args, 1, "SERVICES")?;
    let mut spec = FleetSpec::shared_layout(services);
    spec.commits = args[2..].to_vec();
    let started = Instant::now();
    let report = build_fleet(&addr, &spec).map_err(|e| e.to_string())?;
    println!(
        "{} repositories, {} SHA tags, {} mutable tags, {} requests in {:.1} s",
        report.repositories,
        report.immutable_tags,
        report.mutable_tags,
        report.requests,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn images(args: &[String]) -> Result<(), String> {
    let addr: String = arg(args, 0, "ADDR")?;
    let prefix: String = arg(args, 1, "PREFIX")?;
    let count: usize = arg(args, 2, "COUNT")?;
    let bytes: usize = arg(args, 3, "BYTES")?;
    for i in 0..count {
        let service = format!("train-{:02}", i + 1);
        let tag = format!("sha-{:07x}", 0x7a10000 + i);
        push_sized_image(
            &addr,
            &format!("{prefix}/{service}"),
            std::slice::from_ref(&tag),
            bytes,
            1000 + i as u64,
        )
        .map_err(|e| e.to_string())?;
        println!("{service}:{tag}");
    }
    Ok(())
}

/// One console open: the first cell drawn, the whole matrix drawn, and each key's time
/// from being sent to the frame that shows it.
struct Opened {
    first_rows: Option<Duration>,
    complete: Option<Duration>,
    keys: Vec<Duration>,
}

fn console(args: &[String]) -> Result<(), String> {
    let path: String = arg(args, 0, "CONFIG")?;
    let rounds: usize = arg(args, 1, "ROUNDS")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut opens = Vec::new();
    for _ in 0..rounds {
        let config = Config::load(std::path::Path::new(&path)).map_err(|e| e.to_string())?;
        opens.push(runtime.block_on(open_once(config))?);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (i, open) in opens.iter().enumerate() {
        let mut keys: Vec<f64> = open.keys.iter().map(|d| ms(*d)).collect();
        keys.sort_by(|a, b| a.total_cmp(b));
        let pick = |q: f64| {
            keys.get(((keys.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "open\t{}\tfirst_rows_ms\t{:.1}\tcomplete_ms\t{:.1}\tkeys\t{}\tkey_p50_ms\t{:.1}\tkey_p95_ms\t{:.1}\tkey_max_ms\t{:.1}",
            i + 1,
            open.first_rows.map_or(f64::NAN, ms),
            open.complete.map_or(f64::NAN, ms),
            keys.len(),
            pick(0.5),
            pick(0.95),
            pick(1.0),
        );
    }
    Ok(())
}

/// Opens the console on the Environments screen, draws after every batch of messages as
/// the terminal loop does, and presses `j` every 20 ms from another task while it loads.
async fn open_once(config: Config) -> Result<Opened, String> {
    let theme = Theme::load("dark", std::path::Path::new("."), false).map_err(|e| e.to_string())?;
    let (width, height) = (160, 50);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut console = Console::open(
        config,
        true,
        chrono::Utc::now(),
        Rect::new(0, 0, width, height),
    )
    .map_err(|e| e.to_string())?;
    console.start();
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let presser = {
        let (tx, sent) = (console.sender(), sent.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                let key = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('j'));
                if let Ok(mut sent) = sent.lock() {
                    sent.push(Instant::now());
                }
                if tx
                    .send(Msg::Term(crossterm::event::Event::Key(key)))
                    .is_err()
                {
                    return;
                }
            }
        })
    };
    let mut opened = Opened {
        first_rows: None,
        complete: None,
        keys: Vec::new(),
    };
    let mut answered = 0;
    let deadline = started + Duration::from_secs(120);
    loop {
        terminal
            .draw(|frame| gantry::tui::ui::render(frame, &console.app, &theme))
            .map_err(|e| e.to_string())?;
        let drawn = Instant::now();
        let selected = console
            .app
            .ctx
            .list(gantry::config::keys::Screen::Environments)
            .selected;
        if let Ok(sent) = sent.lock() {
            // Each `j` moves the selection one row down: the frame shows every key sent
            // before the selection reached its row.
            while answered < selected.min(sent.len()) {
                opened.keys.push(drawn - sent[answered]);
                answered += 1;
            }
        }
        let (cells, total) = console.app.environments.cells_loaded();
        if opened.first_rows.is_none() && cells > 0 {
            opened.first_rows = Some(drawn - started);
        }
        if total > 0 && cells == total && console.app.environments.is_complete() {
            opened.complete = Some(drawn - started);
            break;
        }
        if drawn > deadline {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), console.handle_next()).await;
    }
    presser.abort();
    console.press(KeyChord::ctrl('c'));
    console.close().await;
    Ok(opened)
}
