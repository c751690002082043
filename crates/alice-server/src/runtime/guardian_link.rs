//! The Guardian this process obeys: its own (reading this machine), a daemon it follows
//! (`guardian.remote_url`), or none (`guardian.enabled = false`). The admission gate, the chat
//! service and the control API ask it for the state and the brownout preset; it never waits
//! for a sample or for the daemon.
//!
//! The served brownout level is the heaviest of three floors: the Guardian's (its state's level
//! and a manual brownout), and this process's latency brownout
//! ([`LatencyBrownout`], when `guardian.latency_brownout` is on).

use crate::runtime::guardian_remote::RemoteGuardian;
use crate::runtime::latency_brownout::LatencyBrownout;
use alice_core::BrownoutLevel;
use alice_guardian::{Guardian, GuardianState, Preset, brownout};
use std::sync::Arc;

/// Cheap to clone; every clone sees the same Guardian.
#[derive(Clone, Default)]
pub struct GuardianLink {
    source: Arc<Source>,
    latency: Option<LatencyBrownout>,
}

#[derive(Default)]
enum Source {
    Local(Guardian),
    Remote(RemoteGuardian),
    #[default]
    Off,
}

impl GuardianLink {
    pub fn local(guardian: Guardian) -> Self {
        Self::over(Source::Local(guardian))
    }

    pub fn remote(remote: RemoteGuardian) -> Self {
        Self::over(Source::Remote(remote))
    }

    fn over(source: Source) -> Self {
        Self {
            source: Arc::new(source),
            latency: None,
        }
    }

    /// The same Guardian, with `latency`'s level as one more floor.
    pub fn with_latency(self, latency: LatencyBrownout) -> Self {
        Self {
            latency: Some(latency),
            ..self
        }
    }

    /// The latency brownout, when it runs.
    pub fn latency(&self) -> Option<&LatencyBrownout> {
        self.latency.as_ref()
    }

    pub fn off() -> Self {
        Self::default()
    }

    /// The Guardian in this process; None when it is off or a daemon is followed instead.
    pub fn in_process(&self) -> Option<&Guardian> {
        match self.source.as_ref() {
            Source::Local(guardian) => Some(guardian),
            Source::Remote(_) | Source::Off => None,
        }
    }

    /// The Guardian daemon followed.
    pub fn followed(&self) -> Option<&RemoteGuardian> {
        match self.source.as_ref() {
            Source::Remote(remote) => Some(remote),
            Source::Local(_) | Source::Off => None,
        }
    }

    /// The Guardian's state now (NORMAL when it is off).
    pub fn state(&self) -> GuardianState {
        match self.source.as_ref() {
            Source::Local(local) => local.state(),
            Source::Remote(remote) => remote.view().state,
            Source::Off => GuardianState::Normal,
        }
    }

    /// The brownout preset requests are served with now.
    pub fn preset(&self) -> Preset {
        brownout::preset(self.level())
    }

    /// The level requests are served at now: the Guardian's, or the latency brownout's when
    /// that is heavier.
    pub fn level(&self) -> BrownoutLevel {
        let guardian = match self.source.as_ref() {
            Source::Local(local) => local.snapshot().level(),
            Source::Remote(remote) => remote.view().level,
            Source::Off => BrownoutLevel::None,
        };
        self.latency
            .as_ref()
            .map_or(guardian, |latency| guardian.max(latency.level()))
    }
}
