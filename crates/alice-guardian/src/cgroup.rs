//! Which cgroup directories hold this process, so the sampler reads the limits and pressure of
//! the group Alice actually runs in rather than assuming it is the root of `/sys/fs/cgroup`.
//!
//! Three layouts occur in practice:
//! - a container with its own cgroup namespace: `/proc/self/cgroup` says `0::/` and the
//!   unified (v2) hierarchy is mounted at `/sys/fs/cgroup`, so the group is that directory;
//! - a host or service on a pure v2 system: `0::/system.slice/alice.service`, the group is
//!   `/sys/fs/cgroup/system.slice/alice.service`;
//! - a hybrid system (v1 controllers plus a unified mount without controllers, often at
//!   `/sys/fs/cgroup/unified`): pressure comes from the unified group, the memory limit from
//!   the v1 `memory` controller's group (`N:memory:/path`).
//!
//! Each directory is found by joining the process's path in that hierarchy to where the
//! hierarchy is mounted (from `/proc/self/mountinfo`), minus the mount's own root when the
//! mount shows only a subtree. Without `/proc/self/cgroup` (a fake tree in tests, or a
//! watched host root) the unified group is taken to be `sys/fs/cgroup` itself, as before.

use std::path::{Path, PathBuf};

/// The directories, relative to the sampler's root (no leading `/`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupDirs {
    /// Where the unified (v2) hierarchy is mounted.
    pub unified_mount: Option<PathBuf>,
    /// The process's group in the unified (v2) hierarchy.
    pub unified: Option<PathBuf>,
    /// Whether that group is below the hierarchy's root; the root's pressure is the host's.
    pub unified_is_child: bool,
    /// The process's group in a v1 `memory` hierarchy (hybrid systems).
    pub v1_memory: Option<PathBuf>,
}

impl CgroupDirs {
    /// Reads `proc/self/cgroup` and `proc/self/mountinfo` below `root`.
    pub fn discover(root: &Path) -> Self {
        let read = |relative: &str| std::fs::read_to_string(root.join(relative)).ok();
        match (read("proc/self/cgroup"), read("proc/self/mountinfo")) {
            (Some(cgroup), Some(mountinfo)) => Self::from_files(&cgroup, &mountinfo),
            _ => Self {
                unified_mount: Some(PathBuf::from("sys/fs/cgroup")),
                unified: Some(PathBuf::from("sys/fs/cgroup")),
                unified_is_child: false,
                v1_memory: None,
            },
        }
    }

    /// The directories named by the texts of `/proc/self/cgroup` and `/proc/self/mountinfo`.
    pub fn from_files(cgroup: &str, mountinfo: &str) -> Self {
        let mounts: Vec<Mount> = mountinfo.lines().filter_map(Mount::parse).collect();
        let mut dirs = Self {
            unified_mount: mounts
                .iter()
                .find(|m| m.fstype == "cgroup2")
                .map(|m| PathBuf::from(m.mount_point.trim_start_matches('/'))),
            ..Self::default()
        };
        for line in cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if controllers.is_empty() {
                let mount = mounts.iter().find(|m| m.fstype == "cgroup2");
                dirs.unified = mount.and_then(|m| m.directory_of(path));
                dirs.unified_is_child = path != "/";
            } else if controllers.split(',').any(|c| c == "memory") {
                let mount = mounts.iter().find(|m| {
                    m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == "memory")
                });
                dirs.v1_memory = mount.and_then(|m| m.directory_of(path));
            }
        }
        dirs
    }
}

/// One line of mountinfo: `36 25 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory`.
struct Mount<'a> {
    root: &'a str,
    mount_point: &'a str,
    fstype: &'a str,
    super_options: &'a str,
}

impl<'a> Mount<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let (before, after) = line.split_once(" - ")?;
        let mut fields = before.split_whitespace();
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        let mut after = after.split_whitespace();
        let fstype = after.next()?;
        let _source = after.next()?;
        let super_options = after.next().unwrap_or("");
        Some(Self {
            root,
            mount_point,
            fstype,
            super_options,
        })
    }

    /// Where the group at `path` (as `/proc/self/cgroup` names it) is under this mount.
    fn directory_of(&self, path: &str) -> Option<PathBuf> {
        let inside = if self.root == "/" {
            path
        } else {
            // The mount shows only a subtree; a path outside it cannot be reached here.
            path.strip_prefix(self.root)?
        };
        let mut dir = PathBuf::from(self.mount_point.trim_start_matches('/'));
        for part in inside.split('/').filter(|p| !p.is_empty()) {
            dir.push(part);
        }
        Some(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_CGROUP: &str = "9:name=systemd:/\n4:memory:/process_api/80f9\n1:cpu:/\n0::/\n";
    const HYBRID_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn a_hybrid_system_has_a_unified_root_and_a_v1_memory_group() {
        let dirs = CgroupDirs::from_files(HYBRID_CGROUP, HYBRID_MOUNTS);
        assert_eq!(dirs.unified, Some(PathBuf::from("sys/fs/cgroup/unified")));
        assert_eq!(dirs.unified_mount, dirs.unified, "at the hierarchy's root");
        assert!(!dirs.unified_is_child);
        assert_eq!(
            dirs.v1_memory,
            Some(PathBuf::from("sys/fs/cgroup/memory/process_api/80f9"))
        );
    }

    #[test]
    fn a_service_on_a_pure_v2_system_is_found_below_the_mount() {
        let dirs = CgroupDirs::from_files(
            "0::/system.slice/alice.service\n",
            "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        assert_eq!(
            dirs.unified,
            Some(PathBuf::from("sys/fs/cgroup/system.slice/alice.service"))
        );
        assert!(dirs.unified_is_child);
        assert_eq!(dirs.v1_memory, None);
    }

    #[test]
    fn a_mount_of_a_subtree_is_stripped_of_its_root() {
        let dirs = CgroupDirs::from_files(
            "0::/kubepods/pod1/abc\n",
            "30 1 0:26 /kubepods/pod1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(dirs.unified, Some(PathBuf::from("sys/fs/cgroup/abc")));
        let outside = CgroupDirs::from_files(
            "0::/elsewhere\n",
            "30 1 0:26 /kubepods/pod1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(outside.unified, None);
    }

    #[test]
    fn without_proc_self_the_unified_group_is_the_mount_point() {
        let dir = std::env::temp_dir().join("alice-cgroup-discovery-empty");
        let dirs = CgroupDirs::discover(&dir);
        assert_eq!(dirs.unified, Some(PathBuf::from("sys/fs/cgroup")));
        assert_eq!(dirs.v1_memory, None);
    }

    #[test]
    fn this_machine_can_be_read() {
        let dirs = CgroupDirs::discover(Path::new("/"));
        if let Some(unified) = dirs.unified {
            assert!(
                Path::new("/").join(unified).is_dir(),
                "the unified group found is a directory"
            );
        }
    }
}
