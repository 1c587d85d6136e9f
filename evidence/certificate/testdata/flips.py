# flips.py SCRIPT CERT TRUST FILE MASKS: runs SCRIPT on every single-byte
# change of CERT (each byte XORed with each mask), in this one process, and
# prints one JSON line per change: position, mask, exit code, output, and
# the traceback if the script raised one (run as a program, it would have
# printed it). Only for speed: the script's openssl calls are memoized by
# their arguments and the contents of the files they name (they are pure
# functions of those, and most changes repeat most of them), and its
# `openssl dgst -sm3` is answered by Python's hashlib when that has SM3
# (the same OpenSSL underneath). The script itself is run unchanged.
import contextlib, hashlib, io, json, os, subprocess, sys, traceback

script_path, cert_path, trust, file, masks = sys.argv[1:6]
code = compile(open(script_path).read(), script_path, "exec")
cert = open(cert_path, "rb").read()
real_run, memo = subprocess.run, {}

def run(args, **kw):
    if list(args) == ["openssl", "dgst", "-sm3", "-binary"] and sm3 is not None:
        return subprocess.CompletedProcess(args, 0, sm3(kw["input"]), b"")
    key = (tuple(open(a, "rb").read() if os.path.isfile(a) else a for a in args), kw.get("input"))
    if key not in memo:
        memo[key] = real_run(args, **kw)
    r = memo[key]
    if kw.get("check") and r.returncode != 0:
        raise subprocess.CalledProcessError(r.returncode, args, r.stdout, r.stderr)
    return r

try:
    hashlib.new("sm3")
    sm3 = lambda b: hashlib.new("sm3", b).digest()
except ValueError:
    sm3 = None
subprocess.run = run
mutated = os.path.join(os.getcwd(), "mutated.json")
for pos in range(len(cert)):
    for mask in (int(m) for m in masks.split(",")):
        b = bytearray(cert)
        b[pos] ^= mask
        open(mutated, "wb").write(b)
        sys.argv = [script_path, mutated, trust, file]
        out, status, tb = io.StringIO(), None, ""
        with contextlib.redirect_stdout(out):
            try:
                exec(code, {"__name__": "__main__"})
                status = 0
            except SystemExit as e:
                status = e.code if isinstance(e.code, int) else 1
            except BaseException:
                tb = traceback.format_exc()
        print(json.dumps({"pos": pos, "mask": mask, "code": status, "out": out.getvalue(), "traceback": tb}))
