//! Docker's seccomp profile format and its conversion into the OCI [`LinuxSeccomp`] section.
//!
//! A Docker profile (`docker run --security-opt seccomp=profile.json`, and the default one in
//! `data/seccomp-default.json`) has rules that apply only for some capabilities, architectures or
//! kernel versions (`includes` / `excludes`). [`to_linux_seccomp`] resolves those conditions for
//! one container exactly as moby's `setupSeccomp` does (moby/profiles/seccomp v0.2.3): the
//! native architecture is x86_64 (`amd64`), capabilities are checked against the container's
//! bounding set, and `minKernel` against the kernel version the caller passes in (this crate
//! does no IO; `None` means "assume new enough").

use serde::Deserialize;

use super::{LinuxSeccomp, LinuxSyscall, SeccompArg};

/// Docker's default profile, verbatim (see `data/README.md` for its source and version).
pub const DEFAULT_PROFILE_JSON: &str = include_str!("../../data/seccomp-default.json");

/// A profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SeccompProfileError {
    #[error("decoding seccomp profile failed: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'")]
    ArchitecturesAndArchMap,
    #[error("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'")]
    NameAndNames,
    #[error("invalid minKernel version {0:?} in the seccomp profile")]
    MinKernel(String),
}

/// A profile in Docker's format.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerProfile {
    #[serde(default)]
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub syscalls: Vec<DockerSyscall>,
}

/// One `archMap` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sub_architectures: Vec<String>,
}

/// One rule of a Docker profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerSyscall {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub args: Vec<SeccompArg>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
}

/// `includes` / `excludes` of a rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, deserialize_with = "null_as_default")]
    pub caps: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub arches: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The native architecture in libseccomp's words (moby's `goToNative[runtime.GOARCH]`).
const NATIVE_ARCH: &str = "amd64";
const NATIVE_SCMP_ARCH: &str = "SCMP_ARCH_X86_64";

/// Parses a Docker-format profile.
pub fn parse_profile(json: &str) -> Result<DockerProfile, SeccompProfileError> {
    serde_json::from_str(json).map_err(SeccompProfileError::Decode)
}

/// Converts `profile` for a container whose bounding set is `bounding` (names with `CAP_`),
/// on a kernel `kernel` = (major, minor). Returns `None` when the profile disables seccomp (no
/// default action and no rules).
pub fn to_linux_seccomp(
    profile: &DockerProfile,
    bounding: &[String],
    kernel: Option<(u32, u32)>,
) -> Result<Option<LinuxSeccomp>, SeccompProfileError> {
    if profile.default_action.is_empty() && profile.syscalls.is_empty() {
        return Ok(None);
    }
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(SeccompProfileError::ArchitecturesAndArchMap);
    }
    let mut out = LinuxSeccomp {
        default_action: profile.default_action.clone(),
        default_errno_ret: profile.default_errno_ret,
        architectures: profile.architectures.clone(),
        flags: profile.flags.clone(),
        syscalls: Vec::new(),
    };
    if let Some(a) = profile
        .arch_map
        .iter()
        .find(|a| a.architecture == NATIVE_SCMP_ARCH)
    {
        out.architectures.push(a.architecture.clone());
        out.architectures
            .extend(a.sub_architectures.iter().cloned());
    }
    let kernel_at_least = |v: &str| -> Result<bool, SeccompProfileError> {
        let want = parse_kernel(v).ok_or_else(|| SeccompProfileError::MinKernel(v.to_string()))?;
        Ok(!matches!(kernel, Some(k) if k < want))
    };
    'rules: for call in &profile.syscalls {
        let mut names = call.names.clone();
        if !call.name.is_empty() {
            if !names.is_empty() {
                return Err(SeccompProfileError::NameAndNames);
            }
            names = vec![call.name.clone()];
        }
        if let Some(ex) = &call.excludes {
            if ex.arches.iter().any(|a| a == NATIVE_ARCH) {
                continue 'rules;
            }
            if ex.caps.iter().any(|c| bounding.contains(c)) {
                continue 'rules;
            }
            if let Some(v) = &ex.min_kernel {
                if kernel_at_least(v)? {
                    continue 'rules;
                }
            }
        }
        if let Some(inc) = &call.includes {
            if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == NATIVE_ARCH) {
                continue 'rules;
            }
            if inc.caps.iter().any(|c| !bounding.contains(c)) {
                continue 'rules;
            }
            if let Some(v) = &inc.min_kernel {
                if !kernel_at_least(v)? {
                    continue 'rules;
                }
            }
        }
        out.syscalls.push(LinuxSyscall {
            names,
            action: call.action.clone(),
            errno_ret: call.errno_ret,
            args: call.args.clone(),
        });
    }
    Ok(Some(out))
}

fn parse_kernel(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next().unwrap_or("0").parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn allowed<'a>(s: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        s.syscalls
            .iter()
            .filter(|r| r.names.iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn default_profile_parses_and_maps_x86_64() {
        let p = parse_profile(DEFAULT_PROFILE_JSON).unwrap();
        let s = to_linux_seccomp(&p, &caps(&["CAP_CHOWN"]), Some((6, 1)))
            .unwrap()
            .unwrap();
        assert_eq!(s.default_action, "SCMP_ACT_ERRNO");
        assert_eq!(s.default_errno_ret, Some(1));
        assert_eq!(
            s.architectures,
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        );
        // arch_prctl is amd64-only and kept; s390 clone rule dropped; arm rules dropped.
        assert_eq!(allowed(&s, "arch_prctl").len(), 1);
        assert!(allowed(&s, "set_tls").is_empty());
        // clone: only the masked rule (no CAP_SYS_ADMIN), clone3 -> ENOSYS.
        let clone = allowed(&s, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args[0].op, "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone[0].args[0].value, 2114060288);
        let clone3 = allowed(&s, "clone3");
        assert_eq!(
            (clone3[0].action.as_str(), clone3[0].errno_ret),
            ("SCMP_ACT_ERRNO", Some(38))
        );
        assert!(allowed(&s, "unshare").is_empty());
    }

    #[test]
    fn ptrace_follows_kernel_and_capability_rules() {
        let p = parse_profile(DEFAULT_PROFILE_JSON).unwrap();
        // New kernel, no CAP_SYS_PTRACE: allowed by the minKernel 4.8 rule only.
        let s = to_linux_seccomp(&p, &caps(&["CAP_CHOWN"]), Some((5, 10)))
            .unwrap()
            .unwrap();
        assert_eq!(allowed(&s, "ptrace").len(), 1);
        // Old kernel, no cap: denied (default action).
        let s = to_linux_seccomp(&p, &caps(&["CAP_CHOWN"]), Some((4, 4)))
            .unwrap()
            .unwrap();
        assert!(allowed(&s, "ptrace").is_empty());
        // Old kernel with CAP_SYS_PTRACE: allowed by the capability rule.
        let s = to_linux_seccomp(&p, &caps(&["CAP_SYS_PTRACE"]), Some((4, 4)))
            .unwrap()
            .unwrap();
        assert_eq!(allowed(&s, "ptrace").len(), 1);
    }

    #[test]
    fn sys_admin_allows_mount_and_drops_clone_mask() {
        let p = parse_profile(DEFAULT_PROFILE_JSON).unwrap();
        let s = to_linux_seccomp(&p, &caps(&["CAP_SYS_ADMIN"]), None)
            .unwrap()
            .unwrap();
        assert_eq!(allowed(&s, "mount").len(), 1);
        assert_eq!(allowed(&s, "clone").len(), 1);
        assert!(allowed(&s, "clone")[0].args.is_empty());
        assert!(allowed(&s, "clone3")
            .iter()
            .all(|r| r.action == "SCMP_ACT_ALLOW"));
    }

    #[test]
    fn profile_errors() {
        let both = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
            "archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#;
        assert!(matches!(
            to_linux_seccomp(&parse_profile(both).unwrap(), &[], None),
            Err(SeccompProfileError::ArchitecturesAndArchMap)
        ));
        assert!(matches!(
            parse_profile("{"),
            Err(SeccompProfileError::Decode(_))
        ));
        let empty = parse_profile("{}").unwrap();
        assert!(to_linux_seccomp(&empty, &[], None).unwrap().is_none());
    }
}
