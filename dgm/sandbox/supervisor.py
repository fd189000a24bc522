"""PID 1 of a bubblewrap sandbox: runs one command at a time for the host (python3 inside, stdlib only).

As PID 1 of the sandbox's PID namespace it receives no signal that processes inside send it
(they all share uid 1000 with it), so agent code cannot kill it; it is not dumpable, and the
seccomp filter denies ptrace. It speaks to the host over its stdin and stdout:

  host -> here:  R, 4-byte length, JSON {"argv", "env", "cwd", "stdin": N}, then N bytes of stdin;
                 while a command runs, the byte K means: SIGKILL every process but PID 1.
  here -> host:  frames of 1 byte stream, 3 zero bytes, 4-byte length, payload (as Docker's):
                 1 stdout, 2 stderr, 3 the command's end as JSON {"exit": code}, 4 "ready".
The host's end of stdin closing ends the sandbox.
"""

SCRIPT = r'''
import ctypes, json, os, resource, select, signal, struct, sys, time

signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
try:
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no /proc/1/mem, no ptrace
except Exception:
    pass
LIMITS = json.loads(sys.argv[1])
IN, OUT = 0, 1


def frame(stream, data):
    data = bytes(data)
    msg = struct.pack(">BxxxI", stream, len(data)) + data
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
    """Collect every exited process (orphans are PID 1's); the exit status of CHILD if it ended."""
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
    for name, value in LIMITS.items():
        resource.setrlimit(getattr(resource, name), (value, value))
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
    """Kill whatever the last command left and wait until it is gone (reaped), at most SECONDS: a
    SIGKILLed process is a zombie until PID 1 collects it, and none may outlive into the next command."""
    try:
        os.kill(-1, signal.SIGKILL)
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


def run(req, data):
    settle()  # what the last command left: no process, not even a zombie, outlives into the next command
    pipes = [os.pipe(), os.pipe(), os.pipe()]
    pid = os.fork()
    if pid == 0:
        try:
            child(req, pipes)
        finally:
            os._exit(127)
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
        writers = [stdin_w] if stdin_w is not None else []
        r, w, _ = select.select(watch, writers, [], 0.2)
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
            if fd == IN:
                got = os.read(IN, 1)
                if not got:
                    host_open = False
                os.kill(-1, signal.SIGKILL)
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
        elif readers and time.monotonic() - ended_at > 2:
            os.kill(-1, signal.SIGKILL)  # what the command left holding its output dies
            ended_at = time.monotonic()
    if stdin_w is not None:
        os.close(stdin_w)
    reap()
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    frame(3, json.dumps({"exit": code}).encode())
    if not host_open:
        sys.exit(0)


frame(4, b"ready")
while True:
    while read_exact(1) != b"R":  # a K that came after its command had ended
        pass
    size = struct.unpack(">I", read_exact(4))[0]
    req = json.loads(read_exact(size))
    run(req, read_exact(req["stdin"]) if req["stdin"] else b"")
'''
