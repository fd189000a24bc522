"""PID 1 of a bubblewrap sandbox: runs one command at a time for the host (python3 inside, stdlib only).

As PID 1 of the sandbox's PID namespace it receives no signal that processes inside send it
(they all share uid 1000 with it), so agent code cannot kill it; it is not dumpable, and the
seccomp filter denies ptrace. It speaks to the host over its stdin and stdout:

  host -> here:  R, 4-byte length, a request, then N bytes of stdin. The request is NUL-separated
                 fields: the working directory, N, the argument count, the arguments, then the
                 environment as NAME=VALUE (none of these can hold a NUL: execve forbids it);
                 while a command runs, the byte K means: SIGKILL every process but PID 1.
  here -> host:  frames of 1 byte stream, 3 zero bytes, 4-byte length, payload (as Docker's):
                 1 stdout, 2 stderr, 3 the command's end (its exit code in decimal), 4 "ready".
When a command's process exits, every other process but PID 1 is killed (what it left running
dies with it), and its output drained.
The host's end of stdin closing ends the sandbox.

It starts on every sandbox's critical path, so it imports only built-in and extension modules
(`python3 -I -S`, no json, no enum: `signal`, `json` and `ctypes` alone cost ~30 ms at start).
Its rlimits come as argv: NAME=VALUE pairs of resource's RLIMIT_* constants.
"""

SCRIPT = r'''
import _signal, _struct, os, resource, select, sys, time

_signal.signal(_signal.SIGINT, _signal.SIG_DFL)
_signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
SIGKILL = _signal.SIGKILL


def undumpable():
    # PR_SET_DUMPABLE 0: no /proc/1/mem, no /proc/1/fd, no ptrace. prctl through _ctypes alone
    # (the ctypes package imports ~7 ms of modules); the sandbox does not start without it.
    import _ctypes

    class Int(_ctypes._SimpleCData):
        _type_ = "i"

    class Fn(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = Int

    class Libc:
        _handle = _ctypes.dlopen(None, os.RTLD_NOW)

    if Fn(("prctl", Libc()))(4, 0, 0, 0, 0) != 0:
        raise OSError("prctl(PR_SET_DUMPABLE, 0) failed")


undumpable()
LIMITS = [(getattr(resource, k), int(v)) for k, v in (a.split("=") for a in sys.argv[1:])]
IN, OUT = 0, 1


def frame(stream, data):
    data = bytes(data)
    msg = _struct.pack(">BxxxI", stream, len(data)) + data
    while msg:
        msg = msg[os.write(OUT, msg):]


def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(IN, n - len(buf))
        if not chunk:
            sys.exit(0)
        buf += chunk
    return buf


def reap(child=None):
    # Collect every exited process (orphans are PID 1's); the exit status of CHILD if it ended.
    status = None
    try:
        while True:
            pid, st = os.waitpid(-1, os.WNOHANG)
            if not pid:
                break
            if pid == child:
                status = st
    except ChildProcessError:
        pass
    return status


def child(req, pipes):
    os.setsid()
    try:  # under a memory cgroup the kernel's OOM killer takes agent processes before PID 1
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        os.write(fd, b"500")
        os.close(fd)
    except OSError:
        pass
    for which, value in LIMITS:
        resource.setrlimit(which, (value, value))
    os.dup2(pipes[0][0], 0)
    os.dup2(pipes[1][1], 1)
    os.dup2(pipes[2][1], 2)
    os.closerange(3, 65536)
    try:
        os.chdir(req["cwd"])
        os.execvpe(req["argv"][0], req["argv"], req["env"])
    except OSError as exc:
        os.write(2, ("%s: %s\n" % (req["argv"][0], exc)).encode())
        os._exit(127 if isinstance(exc, FileNotFoundError) else 126)


def settle(seconds=2.0):
    # Kill whatever the last command left and wait until it is gone (reaped), at most SECONDS: a
    # SIGKILLed process is a zombie until PID 1 collects it, and none may outlive into the next command.
    try:
        os.kill(-1, SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            time.sleep(0.005)


def watch_exit(pid):
    # A descriptor that becomes readable when PID exits (None: poll), so the end of a command is
    # seen at once, not at the next poll.
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def run(req, data):
    settle()  # what the last command left: no process, not even a zombie, outlives into the next command
    pipes = [os.pipe(), os.pipe(), os.pipe()]
    pid = os.fork()
    if pid == 0:
        try:
            child(req, pipes)
        finally:
            os._exit(127)
    exited = watch_exit(pid)
    os.close(pipes[0][0]); os.close(pipes[1][1]); os.close(pipes[2][1])
    stdin_w = pipes[0][1]
    if not data:
        os.close(stdin_w)
        stdin_w = None
    else:
        os.set_blocking(stdin_w, False)
    readers = {pipes[1][0]: 1, pipes[2][0]: 2}
    status = None
    ended_at = None
    host_open = True
    while readers or status is None:
        watch = list(readers) + ([IN] if host_open else [])
        if status is None and exited is not None:
            watch.append(exited)
        writers = [stdin_w] if stdin_w is not None else []
        # Without a pidfd the end is polled; once it ended, what holds its output gets 2 s.
        wait = None if (status is None and exited is not None) else 0.2
        r, w, _ = select.select(watch, writers, [], wait)
        if w:
            try:
                n = os.write(stdin_w, data[:65536])
                data = data[n:]
            except (BrokenPipeError, BlockingIOError) as exc:
                data = b"" if isinstance(exc, BrokenPipeError) else data
            if not data:
                os.close(stdin_w)
                stdin_w = None
        for fd in r:
            if fd == exited:
                continue
            if fd == IN:
                got = os.read(IN, 1)
                if not got:
                    host_open = False
                os.kill(-1, SIGKILL)
                continue
            chunk = os.read(fd, 1 << 16)
            if chunk:
                frame(readers[fd], chunk)
            else:
                os.close(fd)
                del readers[fd]
        if status is None:
            status = reap(pid)
            if status is not None:
                ended_at = time.monotonic()
                try:  # whatever the command left running (a daemon, a fork bomb) dies with it
                    os.kill(-1, SIGKILL)
                except ProcessLookupError:
                    pass
        elif readers and time.monotonic() - ended_at > 2:
            os.kill(-1, SIGKILL)  # what the command left holding its output dies
            ended_at = time.monotonic()
    if exited is not None:
        os.close(exited)
    if stdin_w is not None:
        os.close(stdin_w)
    reap()
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    frame(3, b"%d" % code)
    if not host_open:
        sys.exit(0)


def request(raw):
    fields = raw.decode("utf-8", "surrogateescape").split("\0")
    argc = int(fields[2])
    env = dict(kv.split("=", 1) for kv in fields[3 + argc:])
    return {"cwd": fields[0], "stdin": int(fields[1]), "argv": fields[3:3 + argc], "env": env}


frame(4, b"ready")
while True:
    while read_exact(1) != b"R":  # a K that came after its command had ended
        pass
    size = _struct.unpack(">I", read_exact(4))[0]
    req = request(read_exact(size))
    run(req, read_exact(req["stdin"]) if req["stdin"] else b"")
'''


def encode_request(argv: list[str], env: dict[str, str], cwd: str, stdin_size: int) -> bytes:
    """The request the supervisor reads (see above); ValueError for a NUL in any field."""
    fields = [cwd, str(stdin_size), str(len(argv)), *argv, *(f"{k}={v}" for k, v in env.items())]
    if any("\0" in f for f in fields) or any("=" in k or not k for k in env):
        raise ValueError("a command's arguments, environment and directory cannot hold NUL bytes, "
                         "nor a variable's name '='")
    return "\0".join(fields).encode("utf-8", "surrogateescape")


def encode_limits(limits: dict[str, int]) -> list[str]:
    """Rlimits ({"RLIMIT_AS": bytes, ...}) as the supervisor's arguments."""
    return [f"{k}={int(v)}" for k, v in limits.items()]
