//! OCI device cgroup rules (`linux.resources.devices`) on cgroup v2: an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the container's cgroup, as runc does.
//!
//! [`compile`] turns the rule list into eBPF instructions; [`attach`] loads them through the raw
//! `bpf(2)` syscall and attaches them with `BPF_F_ALLOW_MULTI` (a parent's programs still apply:
//! the kernel allows an access only when every program on the path allows it). The program is
//! released with the cgroup, nothing else to clean up.
//!
//! Semantics: the rules are evaluated in order and the last matching rule wins, separately for
//! each access bit the kernel asks about (mknod, read, write): an access is allowed only when
//! every requested bit is allowed. A rule of type `a` (or none) matches every device; a major or
//! minor of `None` (or negative, `-1`) matches any. Without a matching rule a device is allowed
//! (a fresh v1 devices cgroup allows everything), so a list that starts with "deny all" (every
//! Docker spec) is an allow list. The program's context is the kernel's
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, `access_type` = device
//! type (block 1, char 2) in the low 16 bits and the access (mknod 1, read 2, write 4) in the
//! high 16 bits; it returns 1 (allow) or 0 (deny, EPERM).
//!
//! Code shape: load type, access, major and minor into r2..r5; then one block per access bit:
//! skip the block when the bit is not requested, else test the rules newest first with early
//! exits (an allowing match jumps to the next block, a denying one returns 0). Rules that do not
//! grant or refuse the block's bit are left out; nothing after an unconditional rule is emitted,
//! since the verifier rejects unreachable instructions. Only forward jumps.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use api::oci::DeviceCgroup;

/// One eBPF instruction, in the kernel's `struct bpf_insn` layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes (class | op | source).
pub const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
pub const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
pub const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
pub const JMP_JA: u8 = 0x05; // BPF_JMP | BPF_JA
pub const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
pub const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
pub const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// `BPF_DEVCG_DEV_*`.
pub const DEV_BLOCK: u32 = 1;
pub const DEV_CHAR: u32 = 2;
/// `BPF_DEVCG_ACC_*`.
pub const ACC_MKNOD: u32 = 1;
pub const ACC_READ: u32 = 2;
pub const ACC_WRITE: u32 = 4;

// Registers: r1 = ctx, r0 = scratch / return value.
const R0: u8 = 0;
const R1: u8 = 1;
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// One rule, validated.
#[derive(Debug, Clone, Copy)]
struct Rule {
    allow: bool,
    typ: Option<u32>,
    major: Option<u32>,
    minor: Option<u32>,
    access: u32,
}

fn parse(rule: &DeviceCgroup) -> Result<Rule, String> {
    let typ = match rule.typ.as_deref().unwrap_or("a") {
        "a" => None,
        "b" => Some(DEV_BLOCK),
        "c" => Some(DEV_CHAR),
        t => return Err(format!("device rule: unknown type {t:?}")),
    };
    let num = |v: Option<i64>, what: &str| -> Result<Option<u32>, String> {
        match v {
            None => Ok(None),
            Some(n) if n < 0 => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| format!("device rule: {what} {n} out of range")),
        }
    };
    let (major, minor) = if typ.is_none() {
        (None, None)
    } else {
        (num(rule.major, "major")?, num(rule.minor, "minor")?)
    };
    let mut access = 0;
    for ch in rule.access.as_deref().unwrap_or("rwm").chars() {
        access |= match ch {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            c => return Err(format!("device rule: unknown access {c:?}")),
        };
    }
    Ok(Rule {
        allow: rule.allow,
        typ,
        major,
        minor,
        access,
    })
}

/// A forward jump waiting for its target: index of the jump instruction and the label.
struct Fixup {
    at: usize,
    label: usize,
}

struct Asm {
    code: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<Fixup>,
}

impl Asm {
    fn new_label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn bind(&mut self, label: usize) {
        self.labels[label] = Some(self.code.len());
    }
    fn emit(&mut self, i: Insn) {
        self.code.push(i);
    }
    fn jump(&mut self, i: Insn, label: usize) {
        self.fixups.push(Fixup {
            at: self.code.len(),
            label,
        });
        self.code.push(i);
    }
    /// `if reg != value goto label` (values above `i32::MAX` through r0: the immediate of a
    /// 64-bit compare is sign-extended).
    fn jne(&mut self, reg: u8, value: u32, label: usize) {
        match i32::try_from(value) {
            Ok(imm) => self.jump(insn(JMP_JNE_K, reg, 0, 0, imm), label),
            Err(_) => {
                self.emit(insn(ALU32_MOV_K, R0, 0, 0, value as i32));
                self.jump(insn(JMP_JNE_X, reg, R0, 0, 0), label);
            }
        }
    }
    fn ret(&mut self, v: i32) {
        self.emit(insn(ALU64_MOV_K, R0, 0, 0, v));
        self.emit(insn(JMP_EXIT, 0, 0, 0, 0));
    }
    fn finish(mut self) -> Result<Vec<Insn>, String> {
        for f in &self.fixups {
            let target = self.labels[f.label].ok_or("device filter: unbound label")?;
            let off = i16::try_from(target as i64 - f.at as i64 - 1)
                .map_err(|_| "device filter: program too large".to_string())?;
            self.code[f.at].off = off;
        }
        Ok(self.code)
    }
}

/// The eBPF program for `rules` (see the module doc for the semantics).
pub fn compile(rules: &[DeviceCgroup]) -> Result<Vec<Insn>, String> {
    let rules = rules.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
    let mut a = Asm {
        code: Vec::new(),
        labels: Vec::new(),
        fixups: Vec::new(),
    };
    // r2 = type, r3 = access, r4 = major, r5 = minor (32-bit ops zero-extend).
    a.emit(insn(LDX_MEM_W, R_TYPE, R1, 0, 0));
    a.emit(insn(ALU32_MOV_X, R_ACCESS, R_TYPE, 0, 0));
    a.emit(insn(ALU32_RSH_K, R_ACCESS, 0, 0, 16));
    a.emit(insn(ALU32_AND_K, R_TYPE, 0, 0, 0xffff));
    a.emit(insn(LDX_MEM_W, R_MAJOR, R1, 4, 0));
    a.emit(insn(LDX_MEM_W, R_MINOR, R1, 8, 0));
    for bit in [ACC_MKNOD, ACC_READ, ACC_WRITE] {
        let done = a.new_label();
        // if !(access & bit) goto done
        a.emit(insn(ALU32_MOV_X, R0, R_ACCESS, 0, 0));
        a.emit(insn(ALU32_AND_K, R0, 0, 0, bit as i32));
        a.jump(insn(JMP_JEQ_K, R0, 0, 0, 0), done);
        for r in rules.iter().rev().filter(|r| r.access & bit != 0) {
            let next = a.new_label();
            let mut conditional = false;
            for (reg, v) in [(R_TYPE, r.typ), (R_MAJOR, r.major), (R_MINOR, r.minor)] {
                if let Some(v) = v {
                    a.jne(reg, v, next);
                    conditional = true;
                }
            }
            if r.allow {
                a.jump(insn(JMP_JA, 0, 0, 0, 0), done);
            } else {
                a.ret(0);
            }
            if !conditional {
                // Nothing older can match: emitting it would be unreachable code.
                break;
            }
            a.bind(next);
        }
        // No rule matched: allowed, on to the next bit.
        a.bind(done);
    }
    a.ret(1);
    a.finish()
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, zero-padded (the kernel requires unknown tail
/// bytes to be zero).
#[repr(C, align(8))]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    pad: [u8; 56],
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C, align(8))]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    pad: [u8; 44],
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialized `#[repr(C)]` prefix of `union bpf_attr` of the size
    // passed; the pointers inside it (set by the callers) point to buffers that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn load(prog: &[Insn], log: Option<&mut [u8]>) -> io::Result<OwnedFd> {
    let license = b"Apache-2.0\0";
    let mut name = [0u8; 16];
    name[..5].copy_from_slice(b"berth");
    let (log_level, log_size, log_buf) = match log {
        Some(buf) => (1, buf.len() as u32, buf.as_mut_ptr() as u64),
        None => (0, 0, 0),
    };
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: 0,
        pad: [0; 56],
    };
    let fd = bpf(BPF_PROG_LOAD, &mut attr)?;
    // SAFETY: BPF_PROG_LOAD returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Loads the program for `rules` and attaches it to the cgroup directory `dir`.
pub fn attach(dir: &Path, rules: &[DeviceCgroup]) -> io::Result<()> {
    let prog = compile(rules).map_err(io::Error::other)?;
    let prog_fd = match load(&prog, None) {
        Ok(fd) => fd,
        Err(e) => {
            // Load again with a verifier log, for the error message.
            let mut log = vec![0u8; 64 * 1024];
            let _ = load(&prog, Some(&mut log));
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "BPF_PROG_LOAD of the device filter: {e}; verifier: {}",
                    text.trim()
                ),
            ));
        }
    };
    let cg = crate::sys::open(dir, libc::O_RDONLY | libc::O_DIRECTORY)?;
    let mut attr = ProgAttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
        pad: [0; 44],
    };
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map_err(|e| io::Error::new(e.kind(), format!("BPF_PROG_ATTACH: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `prog` on a context like the kernel's; also checks what the verifier would: forward
    /// jumps in bounds, every instruction reachable, r0 set before exit.
    fn run(prog: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        check_structure(prog);
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut set = [false; 11];
        set[1] = true;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64 as u64;
            pc += 1;
            let jump = |cond: bool, pc: &mut usize| {
                if cond {
                    *pc = (*pc as i64 + i.off as i64) as usize;
                }
            };
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = ctx[i.off as usize / 4] as u64;
                    set[dst] = true;
                }
                ALU32_MOV_X => {
                    assert!(set[src]);
                    r[dst] = r[src] as u32 as u64;
                    set[dst] = true;
                }
                ALU32_MOV_K => {
                    r[dst] = i.imm as u32 as u64;
                    set[dst] = true;
                }
                ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                ALU32_AND_K => r[dst] = ((r[dst] as u32) & i.imm as u32) as u64,
                ALU64_MOV_K => {
                    r[dst] = imm;
                    set[dst] = true;
                }
                JMP_JA => jump(true, &mut pc),
                JMP_JEQ_K => jump(r[dst] == imm, &mut pc),
                JMP_JNE_K => jump(r[dst] != imm, &mut pc),
                JMP_JNE_X => jump(r[dst] != r[src], &mut pc),
                JMP_EXIT => {
                    assert!(set[0]);
                    return r[0];
                }
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    fn check_structure(prog: &[Insn]) {
        let mut reach = vec![false; prog.len()];
        reach[0] = true;
        for (pc, i) in prog.iter().enumerate() {
            if !reach[pc] {
                panic!("unreachable insn {pc}: {prog:?}");
            }
            let is_jump = matches!(i.code, JMP_JA | JMP_JEQ_K | JMP_JNE_K | JMP_JNE_X);
            if is_jump {
                assert!(i.off >= 0, "backward jump at {pc}");
                let t = pc + 1 + i.off as usize;
                assert!(t < prog.len(), "jump out of bounds at {pc}");
                reach[t] = true;
            }
            if i.code != JMP_JA && i.code != JMP_EXIT {
                assert!(pc + 1 < prog.len(), "falls off the end at {pc}");
                reach[pc + 1] = true;
            }
        }
    }

    fn rule(
        allow: bool,
        typ: &str,
        major: Option<i64>,
        minor: Option<i64>,
        acc: &str,
    ) -> DeviceCgroup {
        DeviceCgroup {
            allow,
            typ: Some(typ.into()),
            major,
            minor,
            access: Some(acc.into()),
        }
    }

    const C: u32 = DEV_CHAR;
    const B: u32 = DEV_BLOCK;
    const R: u32 = ACC_READ;
    const W: u32 = ACC_WRITE;
    const M: u32 = ACC_MKNOD;

    #[test]
    fn docker_defaults() {
        let p = compile(&api::oci::defaults::default_device_rules()).unwrap();
        // /dev/null read, write, read+write, mknod.
        assert_eq!(run(&p, C, R, 1, 3), 1);
        assert_eq!(run(&p, C, R | W, 1, 3), 1);
        assert_eq!(run(&p, C, M, 1, 3), 1);
        // /dev/sda (b 8:0): mknod yes (b *:* m), read/write no.
        assert_eq!(run(&p, B, M, 8, 0), 1);
        assert_eq!(run(&p, B, R, 8, 0), 0);
        assert_eq!(run(&p, B, R | W, 8, 0), 0);
        // Any char device: mknod only (`c *:* m`).
        assert_eq!(run(&p, C, M, 4, 64), 1);
        assert_eq!(run(&p, C, W, 4, 64), 0);
        assert_eq!(run(&p, C, R | M, 4, 64), 0);
        // `c 136:* rwm`: every pty.
        assert_eq!(run(&p, C, R | W, 136, 0), 1);
        assert_eq!(run(&p, C, R | W, 136, 4095), 1);
        assert_eq!(run(&p, B, R, 136, 0), 0);
        assert_eq!(run(&p, C, R, 137, 0), 0);
        // tun, console, ptmx.
        assert_eq!(run(&p, C, R | W, 10, 200), 1);
        assert_eq!(run(&p, C, R | W, 10, 201), 0);
        assert_eq!(run(&p, C, R | W, 5, 2), 1);
    }

    #[test]
    fn last_match_wins() {
        let rules = vec![
            rule(false, "a", None, None, "rwm"),
            rule(true, "c", Some(1), None, "rw"),
            rule(false, "c", Some(1), Some(5), "w"),
            rule(true, "c", Some(1), Some(5), "r"),
        ];
        let p = compile(&rules).unwrap();
        assert_eq!(run(&p, C, R | W, 1, 3), 1);
        assert_eq!(run(&p, C, R, 1, 5), 1);
        assert_eq!(run(&p, C, W, 1, 5), 0);
        assert_eq!(run(&p, C, R | W, 1, 5), 0);
        assert_eq!(run(&p, C, M, 1, 3), 0);
        // A later deny-all wins over everything before it.
        let mut later = rules.clone();
        later.push(rule(false, "a", None, None, "rwm"));
        let p = compile(&later).unwrap();
        assert_eq!(run(&p, C, R, 1, 3), 0);
        // A later allow-all too.
        later.push(rule(true, "a", None, None, "rwm"));
        let p = compile(&later).unwrap();
        assert_eq!(run(&p, B, R | W | M, 8, 0), 1);
    }

    #[test]
    fn default_is_allow_without_deny_all() {
        let p = compile(&[rule(false, "b", Some(8), None, "rwm")]).unwrap();
        assert_eq!(run(&p, B, R, 8, 16), 0);
        assert_eq!(run(&p, B, R, 9, 0), 1);
        assert_eq!(run(&p, C, R | W, 1, 3), 1);
        let p = compile(&[]).unwrap();
        assert_eq!(run(&p, C, R | W | M, 4, 64), 1);
    }

    #[test]
    fn wildcards_and_big_numbers() {
        let rules = vec![
            rule(false, "a", None, None, "rwm"),
            rule(true, "c", Some(-1), Some(-1), "m"),
            rule(true, "b", Some(0x8000_0001), Some(7), "r"),
        ];
        let p = compile(&rules).unwrap();
        assert_eq!(run(&p, C, M, 4000, 4000), 1);
        assert_eq!(run(&p, B, M, 1, 1), 0);
        assert_eq!(run(&p, B, R, 0x8000_0001, 7), 1);
        assert_eq!(run(&p, B, R, 1, 7), 0);
    }

    /// The kernel's verifier accepts the Docker default program (skipped without privileges).
    #[test]
    fn kernel_loads_the_default_program() {
        let p = compile(&api::oci::defaults::default_device_rules()).unwrap();
        match load(&p, None) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) => {
                eprintln!("skipped: {e}");
            }
            Err(e) => {
                let mut log = vec![0u8; 64 * 1024];
                let _ = load(&p, Some(&mut log));
                panic!("{e}: {}", String::from_utf8_lossy(&log));
            }
        }
    }

    #[test]
    fn rejects_bad_rules() {
        assert!(compile(&[rule(true, "x", None, None, "r")]).is_err());
        assert!(compile(&[rule(true, "c", None, None, "rx")]).is_err());
        assert!(compile(&[rule(true, "c", Some(1 << 40), None, "r")]).is_err());
    }
}
