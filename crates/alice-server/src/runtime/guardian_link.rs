//! The Guardian this process obeys: its own (reading this machine), a daemon it follows
//! (`guardian.remote_url`), or none (`guardian.enabled = false`). The admission gate, the chat
//! service and the control API ask it for the state and the brownout preset; it never waits
//! for a sample or for the daemon.

use crate::runtime::guardian_remote::RemoteGuardian;
use alice_core::BrownoutLevel;
use alice_guardian::{Guardian, GuardianState, Preset, brownout};
use std::sync::Arc;

/// Cheap to clone; every clone sees the same Guardian.
#[derive(Clone, Default)]
pub struct GuardianLink(Arc<Source>);

#[derive(Default)]
enum Source {
    Local(Guardian),
    Remote(RemoteGuardian),
    #[default]
    Off,
}

impl GuardianLink {
    pub fn local(guardian: Guardian) -> Self {
        Self(Arc::new(Source::Local(guardian)))
    }

    pub fn remote(remote: RemoteGuardian) -> Self {
        Self(Arc::new(Source::Remote(remote)))
    }

    pub fn off() -> Self {
        Self::default()
    }

    /// The Guardian in this process; None when it is off or a daemon is followed instead.
    pub fn in_process(&self) -> Option<&Guardian> {
        match self.0.as_ref() {
            Source::Local(guardian) => Some(guardian),
            Source::Remote(_) | Source::Off => None,
        }
    }

    /// The Guardian daemon followed.
    pub fn followed(&self) -> Option<&RemoteGuardian> {
        match self.0.as_ref() {
            Source::Remote(remote) => Some(remote),
            Source::Local(_) | Source::Off => None,
        }
    }

    /// The Guardian's state now (NORMAL when it is off).
    pub fn state(&self) -> GuardianState {
        match self.0.as_ref() {
            Source::Local(local) => local.state(),
            Source::Remote(remote) => remote.view().state,
            Source::Off => GuardianState::Normal,
        }
    }

    /// The brownout preset requests are served with now.
    pub fn preset(&self) -> Preset {
        match self.0.as_ref() {
            Source::Local(local) => local.preset(),
            Source::Remote(remote) => brownout::preset(remote.view().level),
            Source::Off => brownout::preset(BrownoutLevel::None),
        }
    }
}
