//! berth's seccomp BPF compiler: the OCI `linux.seccomp` section -> a classic BPF program for
//! `seccomp(SECCOMP_SET_MODE_FILTER)`. No libseccomp: Docker's default profile compiles in tens
//! of microseconds, so the program is compiled at every create and never cached.
//!
//! Program layout (x86_64 only):
//! 1. `arch != AUDIT_ARCH_X86_64` -> default action (i386 and other ABIs get no rules: their
//!    syscall numbers differ and berth has no table for them).
//! 2. `nr >= 0x40000000` (the x32 ABI) -> default action.
//! 3. Syscalls whose first rule has no argument condition: runs of `jeq nr` per action, each run
//!    ending in one `ret action`.
//! 4. Syscalls with argument conditions: per syscall, its rules in order (all conditions of a
//!    rule must hold; 64-bit arguments are compared as high then low 32-bit words).
//! 5. `ret` default action.
//!
//! Syscall names the table does not know are skipped, as libseccomp does for names unknown to
//! the running architecture.

pub mod syscall_table;

use api::oci::{LinuxSeccomp, SeccompArg};

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub const BPF_LD_W_ABS: u16 = 0x20;
pub const BPF_ALU_AND_K: u16 = 0x54;
pub const BPF_JA: u16 = 0x05;
pub const BPF_JEQ_K: u16 = 0x15;
pub const BPF_JGT_K: u16 = 0x25;
pub const BPF_JGE_K: u16 = 0x35;
pub const BPF_RET_K: u16 = 0x06;

pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const SECCOMP_RET_KILL_THREAD: u32 = 0x0000_0000;
pub const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
pub const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
pub const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

/// `seccomp_data` offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

const EPERM: u32 = 1;

/// The section could not be compiled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeccompError {
    #[error("unsupported seccomp action {0:?}")]
    Action(String),
    #[error("unsupported seccomp operator {0:?}")]
    Operator(String),
    #[error("seccomp argument index {0} out of range (0-5)")]
    ArgIndex(u32),
    #[error("unsupported seccomp flag {0:?}")]
    Flag(String),
    #[error("seccomp rule for {0:?} is too large for a BPF jump")]
    JumpTooFar(String),
}

/// A compiled filter and the `seccomp(2)` flags to install it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompProgram {
    pub filter: Vec<SockFilter>,
    pub flags: u32,
}

/// The BPF return value for an OCI action name.
pub fn action_value(action: &str, errno_ret: Option<u32>) -> Result<u32, SeccompError> {
    Ok(match action {
        "SCMP_ACT_ALLOW" => SECCOMP_RET_ALLOW,
        "SCMP_ACT_ERRNO" => SECCOMP_RET_ERRNO | (errno_ret.unwrap_or(EPERM) & 0xffff),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SECCOMP_RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS" => SECCOMP_RET_KILL_PROCESS,
        "SCMP_ACT_TRAP" => SECCOMP_RET_TRAP,
        "SCMP_ACT_TRACE" => SECCOMP_RET_TRACE | (errno_ret.unwrap_or(EPERM) & 0xffff),
        "SCMP_ACT_LOG" => SECCOMP_RET_LOG,
        other => return Err(SeccompError::Action(other.to_string())),
    })
}

#[derive(Clone, Copy)]
enum Target {
    Next,
    Label(usize),
}

enum Insn {
    Stmt(u16, u32),
    Jump(u16, u32, Target, Target),
    Ja(usize),
    Label(usize),
}

struct Asm {
    insns: Vec<Insn>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn stmt(&mut self, code: u16, k: u32) {
        self.insns.push(Insn::Stmt(code, k));
    }
    fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.insns.push(Insn::Jump(code, k, jt, jf));
    }
    fn place(&mut self, l: usize) {
        self.insns.push(Insn::Label(l));
    }

    fn finish(self, context: &str) -> Result<Vec<SockFilter>, SeccompError> {
        let mut pos = vec![0usize; self.labels];
        let mut n = 0;
        for i in &self.insns {
            match i {
                Insn::Label(l) => pos[*l] = n,
                _ => n += 1,
            }
        }
        let mut out = Vec::with_capacity(n);
        for i in &self.insns {
            let here = out.len();
            let off = |t: Target| -> Result<u8, SeccompError> {
                match t {
                    Target::Next => Ok(0),
                    Target::Label(l) => u8::try_from(pos[l] - here - 1)
                        .map_err(|_| SeccompError::JumpTooFar(context.into())),
                }
            };
            match *i {
                Insn::Label(_) => {}
                Insn::Stmt(code, k) => out.push(SockFilter {
                    code,
                    jt: 0,
                    jf: 0,
                    k,
                }),
                Insn::Jump(code, k, jt, jf) => out.push(SockFilter {
                    code,
                    jt: off(jt)?,
                    jf: off(jf)?,
                    k,
                }),
                Insn::Ja(l) => out.push(SockFilter {
                    code: BPF_JA,
                    jt: 0,
                    jf: 0,
                    k: (pos[l] - here - 1) as u32,
                }),
            }
        }
        Ok(out)
    }
}

/// Emits the checks of one argument condition: falls through when it holds, jumps to `fail`
/// when it does not.
fn emit_condition(a: &mut Asm, arg: &SeccompArg, fail: usize) -> Result<(), SeccompError> {
    if arg.index > 5 {
        return Err(SeccompError::ArgIndex(arg.index));
    }
    let lo_off = OFF_ARGS + 8 * arg.index;
    let hi_off = lo_off + 4;
    let (v_hi, v_lo) = ((arg.value >> 32) as u32, arg.value as u32);
    let f = Target::Label(fail);
    let next = Target::Next;
    match arg.op.as_str() {
        "SCMP_CMP_EQ" => {
            a.stmt(BPF_LD_W_ABS, hi_off);
            a.jump(BPF_JEQ_K, v_hi, next, f);
            a.stmt(BPF_LD_W_ABS, lo_off);
            a.jump(BPF_JEQ_K, v_lo, next, f);
        }
        "SCMP_CMP_NE" => {
            let ok = a.label();
            a.stmt(BPF_LD_W_ABS, hi_off);
            a.jump(BPF_JEQ_K, v_hi, next, Target::Label(ok));
            a.stmt(BPF_LD_W_ABS, lo_off);
            a.jump(BPF_JEQ_K, v_lo, f, next);
            a.place(ok);
        }
        "SCMP_CMP_MASKED_EQ" => {
            let (t_hi, t_lo) = ((arg.value_two >> 32) as u32, arg.value_two as u32);
            a.stmt(BPF_LD_W_ABS, hi_off);
            a.stmt(BPF_ALU_AND_K, v_hi);
            a.jump(BPF_JEQ_K, t_hi, next, f);
            a.stmt(BPF_LD_W_ABS, lo_off);
            a.stmt(BPF_ALU_AND_K, v_lo);
            a.jump(BPF_JEQ_K, t_lo, next, f);
        }
        op @ ("SCMP_CMP_GT" | "SCMP_CMP_GE") => {
            let ok = a.label();
            a.stmt(BPF_LD_W_ABS, hi_off);
            a.jump(BPF_JGT_K, v_hi, Target::Label(ok), next);
            a.jump(BPF_JEQ_K, v_hi, next, f);
            a.stmt(BPF_LD_W_ABS, lo_off);
            let code = if op == "SCMP_CMP_GT" {
                BPF_JGT_K
            } else {
                BPF_JGE_K
            };
            a.jump(code, v_lo, next, f);
            a.place(ok);
        }
        op @ ("SCMP_CMP_LT" | "SCMP_CMP_LE") => {
            let ok = a.label();
            a.stmt(BPF_LD_W_ABS, hi_off);
            a.jump(BPF_JGT_K, v_hi, f, next);
            a.jump(BPF_JEQ_K, v_hi, next, Target::Label(ok));
            a.stmt(BPF_LD_W_ABS, lo_off);
            // LT holds unless lo >= v; LE holds unless lo > v.
            let code = if op == "SCMP_CMP_LT" {
                BPF_JGE_K
            } else {
                BPF_JGT_K
            };
            a.jump(code, v_lo, f, next);
            a.place(ok);
        }
        other => return Err(SeccompError::Operator(other.to_string())),
    }
    Ok(())
}

/// One rule of a syscall: its action and argument conditions.
type Rule<'a> = (u32, &'a [SeccompArg]);

/// Compiles `section` into a BPF program for x86_64.
pub fn compile(section: &LinuxSeccomp) -> Result<SeccompProgram, SeccompError> {
    let default = action_value(&section.default_action, section.default_errno_ret)?;
    let mut flags = 0u32;
    for f in &section.flags {
        flags |= match f.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => 0,
            "SECCOMP_FILTER_FLAG_LOG" => 2,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4,
            other => return Err(SeccompError::Flag(other.to_string())),
        };
    }

    // Rules per syscall number, in profile order; numbers in first-seen order.
    let mut order: Vec<u32> = Vec::new();
    let mut rules: std::collections::HashMap<u32, Vec<Rule<'_>>> = Default::default();
    for rule in &section.syscalls {
        let action = action_value(&rule.action, rule.errno_ret)?;
        for name in &rule.names {
            let Some(nr) = syscall_table::syscall_number(name) else {
                continue;
            };
            let entry = rules.entry(nr).or_insert_with(|| {
                order.push(nr);
                Vec::new()
            });
            entry.push((action, &rule.args));
        }
    }

    let mut a = Asm {
        insns: Vec::new(),
        labels: 0,
    };
    let ret_default = a.label();
    let arch_ok = a.label();
    let abi_ok = a.label();
    a.stmt(BPF_LD_W_ABS, OFF_ARCH);
    a.jump(
        BPF_JEQ_K,
        AUDIT_ARCH_X86_64,
        Target::Label(arch_ok),
        Target::Next,
    );
    a.stmt(BPF_RET_K, default);
    a.place(arch_ok);
    a.stmt(BPF_LD_W_ABS, OFF_NR);
    a.jump(
        BPF_JGE_K,
        X32_SYSCALL_BIT,
        Target::Next,
        Target::Label(abi_ok),
    );
    a.stmt(BPF_RET_K, default);
    a.place(abi_ok);

    // Unconditional syscalls grouped by action.
    let mut simple: Vec<(u32, Vec<u32>)> = Vec::new();
    let mut complex: Vec<u32> = Vec::new();
    for nr in &order {
        let list = &rules[nr];
        let (action, args) = list[0];
        if args.is_empty() {
            match simple.iter_mut().find(|(a, _)| *a == action) {
                Some((_, nrs)) => nrs.push(*nr),
                None => simple.push((action, vec![*nr])),
            }
        } else {
            complex.push(*nr);
        }
    }
    for (action, nrs) in &simple {
        for chunk in nrs.chunks(200) {
            let ret = a.label();
            let after = a.label();
            for nr in chunk {
                a.jump(BPF_JEQ_K, *nr, Target::Label(ret), Target::Next);
            }
            a.insns.push(Insn::Ja(after));
            a.place(ret);
            a.stmt(BPF_RET_K, *action);
            a.place(after);
        }
    }
    for nr in &complex {
        let list = &rules[nr];
        let next_syscall = a.label();
        a.stmt(BPF_LD_W_ABS, OFF_NR);
        a.jump(BPF_JEQ_K, *nr, Target::Next, Target::Label(next_syscall));
        for (action, args) in list {
            let next_rule = a.label();
            for arg in args.iter() {
                emit_condition(&mut a, arg, next_rule)?;
            }
            a.stmt(BPF_RET_K, *action);
            a.place(next_rule);
        }
        // Matched the number but no rule: default.
        a.insns.push(Insn::Ja(ret_default));
        a.place(next_syscall);
    }
    a.place(ret_default);
    a.stmt(BPF_RET_K, default);
    let context = "filter".to_string();
    let filter = a.finish(&context)?;
    Ok(SeccompProgram { filter, flags })
}

#[cfg(test)]
pub(crate) mod interp {
    //! A tiny classic-BPF interpreter for the instructions the compiler emits.
    use super::*;

    pub fn run(prog: &[SockFilter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, v) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => {
                    let k = i.k as usize;
                    acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                BPF_ALU_AND_K => acc &= i.k,
                BPF_JA => pc += i.k as usize,
                BPF_JEQ_K | BPF_JGT_K | BPF_JGE_K => {
                    let t = match i.code {
                        BPF_JEQ_K => acc == i.k,
                        BPF_JGT_K => acc > i.k,
                        _ => acc >= i.k,
                    };
                    pc += if t { i.jt } else { i.jf } as usize;
                }
                BPF_RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::interp::run;
    use super::*;
    use api::oci::LinuxSyscall;

    const X86: u32 = AUDIT_ARCH_X86_64;

    fn nr(name: &str) -> u32 {
        syscall_table::syscall_number(name).unwrap()
    }

    fn rule(
        names: &[&str],
        action: &str,
        errno: Option<u32>,
        args: Vec<SeccompArg>,
    ) -> LinuxSyscall {
        LinuxSyscall {
            names: names.iter().map(|s| s.to_string()).collect(),
            action: action.into(),
            errno_ret: errno,
            args,
        }
    }

    fn arg(index: u32, value: u64, value_two: u64, op: &str) -> SeccompArg {
        SeccompArg {
            index,
            value,
            value_two,
            op: op.into(),
        }
    }

    fn docker_default() -> LinuxSeccomp {
        let p = api::oci::seccomp_profile::parse_profile(
            api::oci::seccomp_profile::DEFAULT_PROFILE_JSON,
        )
        .unwrap();
        let caps: Vec<String> = api::oci::defaults::DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect();
        api::oci::seccomp_profile::to_linux_seccomp(&p, &caps, Some((6, 1)))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn table_is_sorted_and_knows_common_names() {
        assert!(syscall_table::SYSCALLS_X86_64
            .windows(2)
            .all(|w| w[0].0 < w[1].0));
        assert_eq!(nr("read"), 0);
        assert_eq!(nr("unshare"), 272);
        assert_eq!(syscall_table::syscall_number("chown32"), None);
    }

    #[test]
    fn docker_default_allows_read_denies_unshare_and_checks_args() {
        let p = compile(&docker_default()).unwrap();
        let eperm = SECCOMP_RET_ERRNO | 1;
        assert_eq!(run(&p.filter, X86, nr("read"), [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(run(&p.filter, X86, nr("unshare"), [0; 6]), eperm);
        assert_eq!(run(&p.filter, X86, nr("mount"), [0; 6]), eperm);
        // clone3 -> ENOSYS so glibc falls back to clone.
        assert_eq!(
            run(&p.filter, X86, nr("clone3"), [0; 6]),
            SECCOMP_RET_ERRNO | 38
        );
        // clone: allowed for fork-like flags, denied with CLONE_NEWUSER (0x10000000).
        assert_eq!(
            run(&p.filter, X86, nr("clone"), [17, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&p.filter, X86, nr("clone"), [0x1000_0011, 0, 0, 0, 0, 0]),
            eperm
        );
        // socket: any family but AF_VSOCK (40).
        assert_eq!(
            run(&p.filter, X86, nr("socket"), [2, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&p.filter, X86, nr("socket"), [40, 0, 0, 0, 0, 0]),
            eperm
        );
        // personality: listed values only.
        assert_eq!(
            run(
                &p.filter,
                X86,
                nr("personality"),
                [0xffff_ffff, 0, 0, 0, 0, 0]
            ),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&p.filter, X86, nr("personality"), [8, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&p.filter, X86, nr("personality"), [1, 0, 0, 0, 0, 0]),
            eperm
        );
        // Wrong arch and x32 get the default action.
        assert_eq!(run(&p.filter, 0x4000_0003, 3, [0; 6]), eperm);
        assert_eq!(run(&p.filter, X86, 0x4000_0000 | nr("read"), [0; 6]), eperm);
    }

    #[test]
    fn every_operator_compares_64_bit_values() {
        type Case = (&'static str, u64, u64, &'static [(u64, bool)]);
        let cases: &[Case] = &[
            (
                "SCMP_CMP_EQ",
                0x1_0000_0005,
                0,
                &[(0x1_0000_0005, true), (5, false), (0x1_0000_0006, false)],
            ),
            (
                "SCMP_CMP_NE",
                0x1_0000_0005,
                0,
                &[(0x1_0000_0005, false), (5, true), (6, true)],
            ),
            (
                "SCMP_CMP_GT",
                0x1_0000_0005,
                0,
                &[
                    (0x1_0000_0006, true),
                    (0x2_0000_0000, true),
                    (0x1_0000_0005, false),
                    (0xffff_ffff, false),
                ],
            ),
            (
                "SCMP_CMP_GE",
                0x1_0000_0005,
                0,
                &[
                    (0x1_0000_0005, true),
                    (0x1_0000_0004, false),
                    (0x3_0000_0000, true),
                ],
            ),
            (
                "SCMP_CMP_LT",
                0x1_0000_0005,
                0,
                &[
                    (0x1_0000_0004, true),
                    (0xffff_ffff, true),
                    (0x1_0000_0005, false),
                    (0x2_0000_0000, false),
                ],
            ),
            (
                "SCMP_CMP_LE",
                0x1_0000_0005,
                0,
                &[(0x1_0000_0005, true), (0x1_0000_0006, false), (3, true)],
            ),
            (
                "SCMP_CMP_MASKED_EQ",
                0xff00_0000_00f0,
                0x1200_0000_0030,
                &[
                    (0x1234_0000_0031, true),
                    (0x1300_0000_0030, false),
                    (0x1200_0000_0040, false),
                ],
            ),
        ];
        for (op, value, two, probes) in cases {
            let section = LinuxSeccomp {
                default_action: "SCMP_ACT_ERRNO".into(),
                default_errno_ret: Some(13),
                syscalls: vec![rule(
                    &["write"],
                    "SCMP_ACT_ALLOW",
                    None,
                    vec![arg(2, *value, *two, op)],
                )],
                ..Default::default()
            };
            let p = compile(&section).unwrap();
            for (probe, want) in probes.iter() {
                let got =
                    run(&p.filter, X86, nr("write"), [0, 0, *probe, 0, 0, 0]) == SECCOMP_RET_ALLOW;
                assert_eq!(got, *want, "{op} {value:#x} vs {probe:#x}");
            }
            assert_eq!(
                run(&p.filter, X86, nr("read"), [0; 6]),
                SECCOMP_RET_ERRNO | 13
            );
        }
    }

    #[test]
    fn actions_and_unknown_names() {
        let section = LinuxSeccomp {
            default_action: "SCMP_ACT_ALLOW".into(),
            syscalls: vec![
                rule(
                    &["mkdir", "no_such_syscall"],
                    "SCMP_ACT_ERRNO",
                    Some(5),
                    vec![],
                ),
                rule(&["kill"], "SCMP_ACT_KILL_PROCESS", None, vec![]),
                rule(&["getpid"], "SCMP_ACT_TRAP", None, vec![]),
                rule(&["uname"], "SCMP_ACT_LOG", None, vec![]),
                rule(&["gettid"], "SCMP_ACT_KILL", None, vec![]),
                rule(&["getppid"], "SCMP_ACT_TRACE", Some(7), vec![]),
            ],
            ..Default::default()
        };
        let p = compile(&section).unwrap();
        assert_eq!(
            run(&p.filter, X86, nr("mkdir"), [0; 6]),
            SECCOMP_RET_ERRNO | 5
        );
        assert_eq!(
            run(&p.filter, X86, nr("kill"), [0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
        assert_eq!(run(&p.filter, X86, nr("getpid"), [0; 6]), SECCOMP_RET_TRAP);
        assert_eq!(run(&p.filter, X86, nr("uname"), [0; 6]), SECCOMP_RET_LOG);
        assert_eq!(
            run(&p.filter, X86, nr("gettid"), [0; 6]),
            SECCOMP_RET_KILL_THREAD
        );
        assert_eq!(
            run(&p.filter, X86, nr("getppid"), [0; 6]),
            SECCOMP_RET_TRACE | 7
        );
        assert_eq!(run(&p.filter, X86, nr("read"), [0; 6]), SECCOMP_RET_ALLOW);
        let bad = LinuxSeccomp {
            default_action: "SCMP_ACT_NOTIFY".into(),
            ..Default::default()
        };
        assert_eq!(
            compile(&bad),
            Err(SeccompError::Action("SCMP_ACT_NOTIFY".into()))
        );
    }

    #[test]
    fn docker_default_compiles_fast() {
        let section = docker_default();
        let start = std::time::Instant::now();
        let n = 200;
        for _ in 0..n {
            compile(&section).unwrap();
        }
        let per = start.elapsed() / n;
        let p = compile(&section).unwrap();
        eprintln!(
            "docker default profile: {} instructions, compiled in {per:?}",
            p.filter.len()
        );
        assert!(p.filter.len() < 4096);
    }
}
