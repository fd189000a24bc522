"""A seccomp filter for bubblewrap sandboxes, compiled to classic BPF here (no libseccomp needed).

It denies what Docker's default profile denies that matters for escaping or spying: tracing
other processes, mounting, new namespaces, kernel keyrings, BPF, perf, module and kexec
loading, io_uring, and the x32 ABI (a second table of the same calls). Everything else is allowed.
x86-64 only: on another architecture the filter kills every process (the sandbox cannot start).
"""

from __future__ import annotations

import errno
import struct
from functools import lru_cache

AUDIT_ARCH_X86_64 = 0xC000003E
_RET_KILL_PROCESS, _RET_ALLOW = 0x80000000, 0x7FFF0000
_RET_ERRNO = 0x00050000
_LD_ABS_W, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data
_X32_BIT = 0x40000000

# x86-64 system call numbers.
DENIED = {
    "ptrace": 101, "syslog": 103, "uselib": 134, "ustat": 136, "sysfs": 139,
    "vhangup": 153, "pivot_root": 155, "_sysctl": 156, "adjtimex": 159, "chroot": 161, "acct": 163,
    "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
    "iopl": 172, "ioperm": 173, "create_module": 174, "init_module": 175, "delete_module": 176,
    "get_kernel_syms": 177, "query_module": 178, "quotactl": 179, "nfsservctl": 180,
    "lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "move_pages": 279, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
}
CLONE, CLONE3 = 56, 435
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


@lru_cache(maxsize=1)
def compile_filter() -> bytes:
    """The filter as the bytes of a struct sock_filter array (what `bwrap --seccomp FD` reads);
    compiled once per process."""
    eperm = _RET_ERRNO | errno.EPERM
    prog = [
        _ins(_LD_ABS_W, _ARCH),
        _ins(_JEQ_K, AUDIT_ARCH_X86_64, jt=1),
        _ins(_RET_K, _RET_KILL_PROCESS),
        _ins(_LD_ABS_W, _NR),
        _ins(_JGE_K, _X32_BIT, jf=1),
        _ins(_RET_K, eperm),
        # clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc use clone.
        _ins(_JEQ_K, CLONE3, jf=1),
        _ins(_RET_K, _RET_ERRNO | errno.ENOSYS),
    ]
    for nr in sorted(DENIED.values()):
        prog += [_ins(_JEQ_K, nr, jf=1), _ins(_RET_K, eperm)]
    prog += [
        _ins(_JEQ_K, CLONE, jf=3),
        _ins(_LD_ABS_W, _ARG0),
        _ins(_JSET_K, CLONE_NAMESPACES, jf=1),
        _ins(_RET_K, eperm),
        _ins(_RET_K, _RET_ALLOW),
    ]
    return b"".join(prog)


def oci_profile() -> dict:
    """The same filter as an OCI/Docker seccomp profile, for rootless Podman (whose default
    profile allows new user namespaces and ptrace)."""
    rules: list[dict] = [
        {"names": sorted(DENIED), "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
    ]
    bit = 1
    while bit <= CLONE_NAMESPACES:
        if CLONE_NAMESPACES & bit:
            rules.append({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM,
                          "args": [{"index": 0, "value": bit, "valueTwo": bit, "op": "SCMP_CMP_MASKED_EQ"}]})
        bit <<= 1
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules}
