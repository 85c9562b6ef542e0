//! The manual kill switch from outside the engine: `peregrine kill` (acts on the kill file the
//! running engine watches) and the watchers a run starts (kill file, reset file, SIGUSR1).
//!
//! Files: `<kill_switch_file>` present -> the engine trips its latched switch (the file's
//! text is the reason). `peregrine kill --reset --reason TEXT` removes it and writes
//! `<kill_switch_file>.reset` with the reason; the engine then resets the switch, records the
//! reason as a `kill_switch_reset` risk event and deletes the reset file. Removing the kill
//! file alone does NOT reset the switch: resetting is always an explicit, recorded act.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use peregrine_engine::config::Config;
use peregrine_engine::risk::KillSwitch;

/// The reset-request file next to the kill file.
pub fn reset_file(kill_file: &Path) -> PathBuf {
    let mut name = kill_file.as_os_str().to_owned();
    name.push(".reset");
    PathBuf::from(name)
}

fn kill_file(cfg: &Config) -> Result<PathBuf> {
    match &cfg.risk.kill_switch_file {
        Some(p) => Ok(p.clone()),
        None => bail!("risk.kill_switch_file is not set in the config; the engine watches no file"),
    }
}

/// `peregrine kill --config F [--reset --reason TEXT]`.
pub fn kill_cli(config: &Path, reset: bool, reason: Option<&str>) -> Result<()> {
    let cfg = Config::load(config)?;
    let path = kill_file(&cfg)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if reset {
        let Some(reason) = reason.filter(|r| !r.trim().is_empty()) else {
            bail!("--reset needs --reason TEXT: resetting the kill switch is a recorded act");
        };
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        let r = reset_file(&path);
        std::fs::write(&r, reason).with_context(|| format!("writing {}", r.display()))?;
        println!(
            "reset requested ({}); the running engine resets its kill switch within ~100 ms",
            r.display()
        );
    } else {
        let reason = reason.unwrap_or("peregrine kill");
        std::fs::write(&path, reason).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "kill switch file written ({}); the running engine trips within ~100 ms",
            path.display()
        );
    }
    Ok(())
}

/// One look at the files: trips on the kill file, resets on a reset file (and deletes it).
pub async fn poll_files(path: &Path, kill: &KillSwitch) {
    if tokio::fs::try_exists(path).await.unwrap_or(false) {
        if !kill.is_on() {
            let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
            let reason = format!("kill file {}: {}", path.display(), text.trim());
            if kill.trip(&reason) {
                tracing::error!(file = %path.display(), "kill switch tripped by the kill file");
            }
        }
        return;
    }
    let r = reset_file(path);
    if let Ok(text) = tokio::fs::read_to_string(&r).await {
        if let Err(e) = tokio::fs::remove_file(&r).await {
            tracing::error!(file = %r.display(), error = %e, "cannot remove the reset file; not resetting");
            return;
        }
        let reason = format!("reset via {}: {}", r.display(), text.trim());
        if kill.reset(&reason) {
            tracing::warn!(%reason, "kill switch reset");
        }
    }
}

/// Starts the run's watchers: the kill/reset files (every 100 ms) and SIGUSR1 (trips).
pub fn spawn_watchers(cfg: &Config, kill: &KillSwitch) {
    if let Some(path) = cfg.risk.kill_switch_file.clone() {
        let kill = kill.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                poll_files(&path, &kill).await;
            }
        });
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::user_defined1()) {
            Ok(mut sig) => {
                let kill = kill.clone();
                tokio::spawn(async move {
                    while sig.recv().await.is_some() {
                        if kill.trip("SIGUSR1") {
                            tracing::error!("kill switch tripped by SIGUSR1");
                        }
                    }
                });
            }
            Err(e) => tracing::error!(error = %e, "cannot install the SIGUSR1 handler"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kill_file_trips_and_only_a_reset_file_resets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KILL");
        let kill = KillSwitch::new(false);
        std::fs::write(&path, "desk says stop").unwrap();
        poll_files(&path, &kill).await;
        assert!(kill.is_on());
        assert!(kill.reason().contains("desk says stop"));
        std::fs::remove_file(&path).unwrap();
        poll_files(&path, &kill).await;
        assert!(kill.is_on(), "latched: removing the file is not a reset");
        std::fs::write(reset_file(&path), "checked the book").unwrap();
        poll_files(&path, &kill).await;
        assert!(!kill.is_on());
        assert!(kill.reason().contains("checked the book"));
        assert!(!reset_file(&path).exists());
    }
}
