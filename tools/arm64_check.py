"""``make arm64``: the simulator on arm64 under emulation, scored against the same run on x86.

A Debian bookworm arm64 root is made with debootstrap (qemu-user-static through binfmt_misc),
cached outside the work tree (``$STOPSAFE_ARM64_ROOT``, default /var/cache/stopsafe/arm64-root),
given Python 3.11 and a venv with the project installed from arm64 wheels at the same versions as
this machine's ``.venv`` (its ``pip freeze`` is the constraints file), and the models from
``$SHARED/models``. Then ``stopsafe sim`` runs on one-by-one and tud-campus on both sides with
the same config (``--kernels``), and the scores are printed side by side. Exit status 1 when
they differ: a light switch at another clip time (or one more or fewer), or occupancy
(precision, recall, f1) or light agreement apart by more than 0.01.

``--jetpack`` instead resolves the whole dependency set for Python 3.10 on aarch64 (JetPack 6)
from wheels only, building nothing, and prints it.

Needs root (debootstrap, chroot, mounts). Every mount it makes is undone on exit. With
``--skip-if-cannot-emulate`` (``.ci/run``) a host that cannot emulate arm64 at all (not root, no
binfmt_misc) says so and exits 0; any other failure (apt, the mirror, a wheel, a score) fails.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from sim import compare as side_by_side  # noqa: E402

DEFAULT_ROOT = Path("/var/cache/stopsafe/arm64-root")

SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
DEBS = ("python3", "python3-venv", "python3-pip", "ca-certificates")
HOST_DEBS = ("qemu-user-static", "debootstrap", "binfmt-support")
CLIPS = ("one-by-one", "tud-campus")
IN_ROOT = Path("/opt/stopsafe")  # the project's place inside the arm64 root
# JetPack 6 is Ubuntu 22.04: glibc 2.35, so every manylinux tag up to 2_35 installs there
JETPACK_PLATFORMS = ("manylinux2014_aarch64",
                     *(f"manylinux_2_{minor}_aarch64" for minor in range(17, 36)))


def say(msg: str) -> None:
    print(f"arm64: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def requirements(extras: tuple[str, ...] = ()) -> list[str]:
    """setup.cfg's install_requires (and ``extras``): the one list of dependency ranges."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    for extra in extras:
        lines += cfg["options.extras_require"][extra].splitlines()
    return [ln.split(";")[0].strip() for ln in lines if ln.strip()]


# -- the host: qemu and binfmt_misc ----------------------------------------------------------

class CannotEmulate(Exception):
    """Only for what the host lacks (root, binfmt_misc), so that ``--skip-if-cannot-emulate``
    can tell it from a check that failed: a missing wheel, an unreachable mirror or a different
    score fails either way."""


def ensure_host() -> None:
    if os.geteuid() != 0:
        raise CannotEmulate("needs root (debootstrap, chroot and bind mounts)")
    missing = [p for p in HOST_DEBS
               if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        say(f"installing {' '.join(missing)}")
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", *missing],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "register").exists() and subprocess.run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)]).returncode != 0:
        raise CannotEmulate(f"binfmt_misc cannot be mounted on {binfmt}")
    if not (binfmt / "qemu-aarch64").exists() and subprocess.run(
            ["update-binfmts", "--enable", "qemu-aarch64"]).returncode != 0:
        raise CannotEmulate("qemu-aarch64 cannot be registered with binfmt_misc")
    flags = (binfmt / "qemu-aarch64").read_text()
    if "enabled" not in flags or "F" not in next(
            (ln for ln in flags.splitlines() if ln.startswith("flags:")), ""):
        raise CannotEmulate("qemu-aarch64 is registered without the F flag; a chroot cannot "
                            "find it")


# -- the arm64 root --------------------------------------------------------------------------

def ensure_root(root: Path) -> None:
    """Debootstrap once (about 4 minutes here); a half-made root is never taken for a made one."""
    if (root / ".stopsafe-root-ok").is_file():
        say(f"root {root} (cached)")
        return
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    say(f"debootstrap {SUITE} arm64 into {partial}")
    run(["debootstrap", "--arch=arm64", "--variant=minbase", f"--include={','.join(DEBS)}",
         SUITE, str(partial), MIRROR], stdout=subprocess.DEVNULL)
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    (root / ".stopsafe-root-ok").write_text(f"{SUITE} arm64 {' '.join(DEBS)}\n")


class Mounts:
    """Bind mounts into the root, undone in reverse order on exit, whatever happened."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: list[Path] = []

    def bind(self, src: Path, dest: str, *, read_only: bool = False) -> None:
        target = self.root / dest.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        run(["mount", "--bind", str(src), str(target)])
        self.done.append(target)
        if read_only:
            run(["mount", "-o", "remount,bind,ro", str(target)])

    def __enter__(self) -> Mounts:
        return self

    def __exit__(self, *exc: object) -> None:
        for target in reversed(self.done):
            if subprocess.run(["umount", str(target)]).returncode != 0:
                subprocess.run(["umount", "-l", str(target)])


def chroot(root: Path, cmd: str, *, capture: bool = False) -> str:
    """``cmd`` in the root with a clean environment (the host's pip settings do not apply
    there), trusting the host's certificate bundle for the package registry."""
    env = ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8",
           "PIP_CERT=/etc/ssl/host-ca.crt", "PIP_DISABLE_PIP_VERSION_CHECK=1",
           "PIP_DEFAULT_TIMEOUT=180", "OPENBLAS_CORETYPE=ARMV8"]
    out = run(["chroot", str(root), *env, "/bin/sh", "-c", cmd],
              stdout=subprocess.PIPE if capture else None, text=True)
    return out.stdout if capture else ""


def install_project(root: Path, venv: Path) -> None:
    """The work tree's files (tracked and new, not ignored) into the root, installed into its
    venv with every dependency pinned to the version this machine's venv has."""
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/host-ca.crt")
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    src = root / IN_ROOT.relative_to("/") / "src"
    shutil.rmtree(src, ignore_errors=True)
    files = run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"],
                stdout=subprocess.PIPE).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    freeze = run([str(venv / "bin/pip"), "freeze", "--exclude-editable"],
                 stdout=subprocess.PIPE, text=True).stdout
    (root / IN_ROOT.relative_to("/") / "constraints.txt").write_text(freeze)
    venv_in = IN_ROOT / "venv"
    chroot(root, f"test -x {venv_in}/bin/python || python3 -m venv {venv_in}; "
           f"{venv_in}/bin/pip install -q --only-binary=:all: "
           f"-c {IN_ROOT}/constraints.txt {IN_ROOT}/src && "
           f"{venv_in}/bin/stopsafe models fetch --from /mnt/shared/models "
           f"--dir {IN_ROOT}/models >/dev/null")


# -- the runs ----------------------------------------------------------------------------------

def config_text(models_dir: Path, kernels: str) -> str:
    return f"detector:\n  models_dir: {models_dir}\n  kernels: {kernels}\n"


def sim_x86(venv: Path, shared: Path, clip: str, kernels: str, out: Path) -> dict:
    cfg = out / "x86.yaml"
    cfg.write_text(config_text(REPO / "models", kernels))
    proc = run([str(venv / "bin/stopsafe"), "sim", str(shared / "clips" / clip / "scenario.yaml"),
                "-c", str(cfg), "--json", "--report", str(out / "x86" / clip)],
               stdout=subprocess.PIPE, text=True)
    return json.loads(proc.stdout)


def sim_arm(root: Path, clip: str, kernels: str) -> dict:
    cfg = root / IN_ROOT.relative_to("/") / "check.yaml"
    cfg.write_text(config_text(IN_ROOT / "models", kernels))
    out = chroot(root, f"{IN_ROOT}/venv/bin/stopsafe sim /mnt/shared/clips/{clip}/scenario.yaml "
                 f"-c {IN_ROOT}/check.yaml --json --report {IN_ROOT}/reports/{clip}",
                 capture=True)
    return json.loads(out)


def compare(name: str, x86: dict, arm: dict) -> list[str]:
    """Print one clip's scores and switches side by side; the ways in which they differ."""
    print(f"\n{name}")
    sides = (("x86-64", x86), ("arm64", arm))
    return (side_by_side.scores_side_by_side(name, *sides)
            + side_by_side.switches_side_by_side(name, *sides))


def check(args: argparse.Namespace) -> int:
    t_start = time.monotonic()
    venv = Path(args.venv).resolve()
    shared = Path(args.shared).resolve()
    root = Path(args.root)
    ensure_host()
    ensure_root(root)
    t_root = time.monotonic()
    results: dict[str, dict] = {}
    with Mounts(root) as mounts, tempfile.TemporaryDirectory(prefix="stopsafe-arm64-") as tmp:
        mounts.bind(Path("/proc"), "/proc")
        # not /sys: with the host's CPU lists there, XNNPACK's CPU detection (cpuinfo) under
        # qemu crashes the emulated process (signal 11); without, it warns and goes on
        mounts.bind(Path("/dev"), "/dev")
        mounts.bind(shared, "/mnt/shared", read_only=True)
        say("installing the project into the arm64 venv")
        install_project(root, venv)
        t_install = time.monotonic()
        arch = chroot(root, "uname -m; " + f"{IN_ROOT}/venv/bin/python -c "
                      "'import platform, ai_edge_litert, cv2, numpy; "
                      "print(platform.python_version(), \"numpy\", numpy.__version__, "
                      "\"opencv\", cv2.__version__)'", capture=True).split()
        say(f"arm64 root: {' '.join(arch)}")
        for clip in CLIPS:
            say(f"{clip}: x86 run")
            x86 = sim_x86(venv, shared, clip, args.kernels, Path(tmp))
            say(f"{clip}: arm64 run (emulated)")
            t0 = time.monotonic()
            arm = sim_arm(root, clip, args.kernels)
            say(f"{clip}: arm64 run took {time.monotonic() - t0:.0f} s")
            results[clip] = {"x86": x86, "arm64": arm}
    print(f"make arm64: x86-64 against arm64 (emulated, {' '.join(arch)}), "
          f"detector.kernels: {args.kernels} on both sides")
    problems = [p for clip in CLIPS
                for p in compare(clip, results[clip]["x86"], results[clip]["arm64"])]
    t_end = time.monotonic()
    print(f"\ntime: root {t_root - t_start:.0f} s, install {t_install - t_root:.0f} s, "
          f"runs {t_end - t_install:.0f} s, total {t_end - t_start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if problems:
        print("\narm64 DIFFERS from x86:\n  " + "\n  ".join(problems))
        return 1
    print("\narm64 scores equal x86: the same switches at the same clip times, "
          f"occupancy and agreement within {side_by_side.TOLERANCE}")
    return 0


def jetpack(args: argparse.Namespace) -> int:
    """Every dependency (and the onnx extra) for CPython 3.10 on aarch64, from wheels alone."""
    t0 = time.monotonic()
    reqs = requirements(("onnx",))
    with tempfile.TemporaryDirectory(prefix="stopsafe-jetpack-") as tmp:
        cmd = [str(Path(args.venv) / "bin/pip"), "download", "-q", "--only-binary=:all:",
               "--python-version", "3.10", "--implementation", "cp", "--abi", "cp310",
               "--abi", "abi3", "--abi", "none", "-d", tmp]
        for plat in JETPACK_PLATFORMS:
            cmd += ["--platform", plat]
        run([*cmd, *reqs])
        files = sorted(p.name for p in Path(tmp).iterdir())
    print(f"JetPack 6 (CPython 3.10, aarch64): {len(files)} packages, wheels only")
    for name in files:
        print(f"  {name}")
    bad = [n for n in files if not n.endswith(".whl")
           or ("aarch64" not in n and "none-any" not in n and "abi3-none" not in n)]
    print(f"resolved in {time.monotonic() - t0:.0f} s")
    if bad:
        print("not for aarch64: " + ", ".join(bad))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=os.environ.get("STOPSAFE_ARM64_ROOT", str(DEFAULT_ROOT)))
    p.add_argument("--venv", default=str(REPO / ".venv"), help="the x86 venv (and its pins)")
    p.add_argument("--shared", default=str(REPO.parent / "shared"))
    p.add_argument("--kernels", choices=("xnnpack", "builtin", "reference"), default="reference",
                   help="detector.kernels on both sides (default reference, the only kernels "
                   "that give the same int8 results on both: see docs/development.md)")
    p.add_argument("--json", metavar="FILE", help="also write both runs' scores here")
    p.add_argument("--jetpack", action="store_true",
                   help="resolve the dependencies for JetPack 6 (Python 3.10, aarch64) instead")
    p.add_argument("--skip-if-cannot-emulate", action="store_true",
                   help="exit 0, saying so, on a host that cannot emulate arm64 (CI)")
    args = p.parse_args(argv)
    if args.jetpack:
        return jetpack(args)
    try:
        return check(args)
    except CannotEmulate as exc:
        if args.skip_if_cannot_emulate:
            print(f"make arm64: SKIPPED, this host cannot emulate arm64: {exc}")
            return 0
        print(f"arm64: this host cannot emulate arm64: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
