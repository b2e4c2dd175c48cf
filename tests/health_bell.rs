//! The operator hears a problem: the real console in a real terminal
//! (tmux) rings the terminal's bell when an alarm is raised while it
//! watches, and `m` mutes it, which the header then says.

mod attach_support;
mod common;

use attach_support::*;
use common::free_port;
use std::path::Path;
use std::time::Instant;

/// A black picture whose `black` alarm is off (`0`) or raised after
/// `black_after` seconds; nothing else can raise an alarm.
fn write_config(path: &Path, port: u16, black_after: u32) {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nhls_dir = \"hls\"\n\n\
         [[stream]]\nname = \"dark\"\ninput = \"lavfi:color=black:size=320x180:rate=15\"\n\
         audio = \"none\"\nfrozen_after = 0\nblack_after = {black_after}\n"
    );
    std::fs::write(path, text).expect("write streams.toml");
}

fn bell_flag(tmux: &Tmux) -> bool {
    let out = tmux.run(&[
        "display-message",
        "-p",
        "-t",
        "console",
        "#{window_bell_flag}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim() == "1"
}

#[test]
fn an_alarm_raised_while_the_console_watches_rings_the_bell_and_m_mutes_it() {
    let runtime = Runtime::new();
    let (_dir, dir) = test_dir();
    let config = dir.join("streams.toml");
    let port = free_port();
    write_config(&config, port, 0);
    let tmux = Tmux::new(&dir);
    tmux.open(
        "console",
        120,
        30,
        &runtime.console_line(&format!("'{}'", config.display())),
    );
    let out = tmux.run(&["set-option", "-g", "monitor-bell", "on"]);
    assert!(out.status.success(), "tmux set-option monitor-bell");

    tmux.wait_for_screen("console", "the black stream running", |screen| {
        row(screen, "dark").is_some_and(|r| r.contains("running"))
    });
    assert!(
        !bell_flag(&tmux),
        "the bell rang with nothing to say:\n{}",
        tmux.screen("console")
    );

    // The operator turns the black alarm on: it is raised a second later.
    write_config(&config, port, 1);
    tmux.wait_for_screen("console", "the BLACK flag", |screen| {
        row(screen, "dark").is_some_and(|r| r.contains("BLACK"))
    });
    let deadline = Instant::now() + STEP;
    while !bell_flag(&tmux) {
        assert!(
            Instant::now() < deadline,
            "the alarm did not ring the bell:\n{}",
            tmux.screen("console")
        );
        std::thread::sleep(POLL);
    }

    tmux.keys("console", &["m"]);
    let screen = tmux.wait_for_screen("console", "the muted bell in the header", |screen| {
        screen
            .lines()
            .next()
            .is_some_and(|l| l.contains("bell muted (m)"))
    });
    assert!(
        screen.contains("m turns it back on"),
        "a flash line says how to unmute:\n{screen}"
    );
}
