#!/usr/bin/env bash
# Install (or remove) stopsafe as a systemd service. Idempotent: run it again to upgrade.
#
#   sudo systemd/install.sh [--models-from DIR]        install on this machine
#   systemd/install.sh --root DIR [--no-venv] ...       stage into DIR; the machine is untouched
#   sudo systemd/install.sh --uninstall                 remove everything but the config
#
# What it writes (under --root DIR when given):
#   /opt/stopsafe/                         the venv with stopsafe installed from this checkout, with
#                                          the extras the config uses (onnx for a yolox_onnx
#                                          detector, pi5 for the lgpio pins) and those asked for
#   /etc/stopsafe/stopsafe.yaml            the config: written from the example only when missing,
#                                          never overwritten (the example is kept beside it)
#   /var/lib/stopsafe/models/              the models, fetched and checked by sha256
#   /etc/sysusers.d/stopsafe.conf          the system user 'stopsafe' (groups gpio, video)
#   /etc/systemd/system/stopsafe.service   the unit, enabled (multi-user.target.wants)
set -euo pipefail

usage() {
  cat <<'EOF'
usage: install.sh [--root DIR] [--prefix DIR] [--models-from DIR] [--skip-models]
                  [--python PY] [--extras LIST] [--with-history] [--no-venv] [--no-start]
                  [--uninstall]
  --root DIR         install into a staging root instead of / (no systemctl, no chown)
  --prefix DIR       venv location (default /opt/stopsafe)
  --models-from DIR  copy the models from an offline bundle (default: download them)
  --skip-models      do not fetch models (they must already be in /var/lib/stopsafe/models)
  --python PY        Python that makes the venv, and runs the model fetch with --no-venv
                     (default python3)
  --extras LIST      pip extras, e.g. pi5 (default: pi5 on a Raspberry Pi 5); the extras the
                     config uses (python -m edge.extras CONFIG) are always added
  --with-history     add the history extra (stopsafe collect, history, console --db)
  --no-venv          skip making the venv and pip (tests; the venv must come from elsewhere)
  --no-start         enable the unit but do not restart it now (a first install, with the
                     example config just written, is never started)
  --uninstall        remove the unit, venv, models and user file; keep /etc/stopsafe/stopsafe.yaml
EOF
}

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=""
PREFIX=/opt/stopsafe
MODELS_FROM=""
SKIP_MODELS=0
PYTHON=python3
EXTRAS=auto
WITH_HISTORY=0
NO_VENV=0
NO_START=0
UNINSTALL=0

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --models-from) MODELS_FROM="${2:?--models-from needs a directory}"; shift 2 ;;
    --skip-models) SKIP_MODELS=1; shift ;;
    --python) PYTHON="${2:?--python needs a program}"; shift 2 ;;
    --extras) EXTRAS="${2?--extras needs a list}"; shift 2 ;;
    --with-history) WITH_HISTORY=1; shift ;;
    --no-venv) NO_VENV=1; shift ;;
    --no-start) NO_START=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

case "$PREFIX" in /?*) ;; *) die "--prefix must be an absolute path other than /" ;; esac
if [ -n "$ROOT" ]; then
  case "$ROOT" in /*) ;; *) ROOT="$PWD/$ROOT" ;; esac
  ROOT="${ROOT%/}"
  [ -n "$ROOT" ] || die "--root / is the machine itself: leave --root out"
  STAGING=1
else
  STAGING=0
  [ "$(id -u)" = 0 ] || die "run as root (sudo), or stage with --root DIR"
fi

UNIT=stopsafe.service
UNIT_DIR=/etc/systemd/system
CONF_DIR=/etc/stopsafe
CONFIG=$CONF_DIR/stopsafe.yaml
STATE_DIR=/var/lib/stopsafe
MODELS_DIR=$STATE_DIR/models
SYSUSERS=/etc/sysusers.d/stopsafe.conf
WANTS=$UNIT_DIR/multi-user.target.wants/$UNIT
EXAMPLE="$SRC/edge/stopsafe.example.yaml"

r() { printf '%s%s' "$ROOT" "$1"; }  # a path inside the target root
systemd_running() { [ "$STAGING" = 0 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

if [ "$UNINSTALL" = 1 ]; then
  if systemd_running; then
    systemctl disable --now "$UNIT" 2>/dev/null || true
  fi
  rm -f "$(r "$WANTS")" "$(r "$UNIT_DIR/$UNIT")" "$(r "$SYSUSERS")" \
        "$(r "$CONF_DIR/stopsafe.example.yaml")"
  rm -rf "$(r "$PREFIX")" "$(r "$STATE_DIR")"
  rmdir "$(r "$UNIT_DIR/multi-user.target.wants")" 2>/dev/null || true
  systemd_running && systemctl daemon-reload
  if [ -e "$(r "$CONFIG")" ]; then
    say "removed stopsafe; kept the config $(r "$CONFIG")"
  else
    say "removed stopsafe (there was no config to keep)"
  fi
  say "the system user 'stopsafe' is kept (files may still belong to it): userdel stopsafe"
  exit 0
fi

[ -f "$EXAMPLE" ] || die "run from a stopsafe checkout ($EXAMPLE is missing)"

# 1. the system user, declared for systemd-sysusers (which also makes gpio and video exist,
#    as the unit's SupplementaryGroups need them)
install -d -m 0755 "$(r /etc/sysusers.d)"
cat > "$(r "$SYSUSERS").tmp" <<EOF
# stopsafe's system user; installed by stopsafe's install.sh
u stopsafe - "stopsafe bus-stop light daemon" $STATE_DIR /usr/sbin/nologin
g gpio -
g video -
m stopsafe gpio
m stopsafe video
EOF
chmod 0644 "$(r "$SYSUSERS").tmp" && mv -f "$(r "$SYSUSERS").tmp" "$(r "$SYSUSERS")"
if command -v systemd-sysusers >/dev/null; then
  if [ "$STAGING" = 1 ]; then
    systemd-sysusers --root="$ROOT" "$(r "$SYSUSERS")" >/dev/null
  else
    systemd-sysusers "$SYSUSERS" >/dev/null
  fi
elif [ "$STAGING" = 0 ]; then
  id stopsafe >/dev/null 2>&1 || useradd --system --user-group --home-dir "$STATE_DIR" \
    --no-create-home --shell /usr/sbin/nologin stopsafe
  for g in gpio video; do
    getent group "$g" >/dev/null || groupadd --system "$g"
    usermod -a -G "$g" stopsafe
  done
else
  say "systemd-sysusers not found: the staged root gets the sysusers.d file only"
fi

# 2. the venv with stopsafe from this checkout (its extras once the config is known, in 3.)
if [ "$EXTRAS" = auto ]; then
  EXTRAS=""
  grep -qs "Raspberry Pi 5" /proc/device-tree/model && EXTRAS=pi5
fi
[ "$WITH_HISTORY" = 1 ] && EXTRAS="${EXTRAS:+$EXTRAS,}history"
if [ "$NO_VENV" = 0 ]; then
  # build from a copy, so that the checkout gets no root-owned build/ and egg-info
  BUILD="$(mktemp -d)"
  trap 'rm -rf "$BUILD"' EXIT
  tar -C "$SRC" --exclude=./.git --exclude=./.venv --exclude=./build --exclude='*.egg-info' \
      --exclude='./models/*.tflite' --exclude=./reports -cf - . | tar -C "$BUILD" -xf -
  [ -x "$(r "$PREFIX")/bin/python" ] || "$PYTHON" -m venv "$(r "$PREFIX")"
  say "pip install stopsafe from $SRC into $(r "$PREFIX")"
  "$(r "$PREFIX")/bin/python" -m pip install --quiet --disable-pip-version-check "$BUILD"
  RUN=("$(r "$PREFIX")/bin/stopsafe")
  PY=("$(r "$PREFIX")/bin/python")
else
  say "--no-venv: skipping the venv and pip"
  RUN=(env PYTHONPATH="$SRC" "$PYTHON" -m edge.cli)
  PY=(env PYTHONPATH="$SRC" "$PYTHON")
fi

# 3. the config: the example beside it always, the config itself only when there is none
install -d -m 0755 "$(r "$CONF_DIR")"
install -m 0644 "$EXAMPLE" "$(r "$CONF_DIR/stopsafe.example.yaml")"
if [ -e "$(r "$CONFIG")" ]; then
  say "kept the existing config $(r "$CONFIG")"
  UPGRADE=1
else
  UPGRADE=0
  # the example with the models where this installer puts them, and the installer's page on
  # (loopback only: reached over ssh -L until a password is set)
  sed -E -e "s|^([[:space:]]*)# (models_dir: )/var/lib/stopsafe/models.*$|\1\2$MODELS_DIR|" \
    -e "s|^(  enabled: )false( +# the installer's config has true)|\1true\2|" \
    "$EXAMPLE" > "$(r "$CONFIG").tmp"
  grep -q "^[[:space:]]*models_dir: $MODELS_DIR\$" "$(r "$CONFIG").tmp" \
    || die "the example config has no '# models_dir: $MODELS_DIR' line to switch on"
  grep -Eq "^  enabled: true +# the installer's config has true" "$(r "$CONFIG").tmp" \
    || die "the example config has no web 'enabled: false' line to switch on"
  chmod 0640 "$(r "$CONFIG").tmp"
  mv -f "$(r "$CONFIG").tmp" "$(r "$CONFIG")"
  say "wrote $(r "$CONFIG") from the example: edit it, then run stopsafe commission"
fi
if [ "$STAGING" = 0 ]; then
  chown root:stopsafe "$(r "$CONFIG")"
  chmod 0640 "$(r "$CONFIG")"
  # the installer's page saves the zone there: a new file beside the old, renamed over it, the
  # old one kept as .bak (the service may create files in the folder, nobody else)
  chown root:stopsafe "$(r "$CONF_DIR")"
  chmod 0770 "$(r "$CONF_DIR")"
fi

# 3b. the extras: those asked for and those the config uses, with one pip run
if ! USED="$("${PY[@]}" -m edge.extras "$(r "$CONFIG")")"; then
  say "warning: cannot tell the extras $(r "$CONFIG") uses (above); installing those asked for"
  USED=""
fi
EXTRAS="$(printf '%s\n' ${EXTRAS//,/ } ${USED//,/ } | sort -u | paste -sd, -)"
if [ -z "$EXTRAS" ]; then
  say "extras: none"
elif [ "$NO_VENV" = 0 ]; then
  say "pip install stopsafe[$EXTRAS] (the config uses: ${USED:-none})"
  "$(r "$PREFIX")/bin/python" -m pip install --quiet --disable-pip-version-check "$BUILD[$EXTRAS]"
else
  say "--no-venv: the extras $EXTRAS are not installed (the config uses: ${USED:-none})"
fi

# 4. the models, each checked against the manifest's sha256 (a mismatch fails the install)
install -d -m 0755 "$(r "$STATE_DIR")" "$(r "$MODELS_DIR")"
if [ "$SKIP_MODELS" = 1 ]; then
  say "--skip-models: models not fetched"
elif [ -n "$MODELS_FROM" ]; then
  "${RUN[@]}" models fetch --from "$MODELS_FROM" --dir "$(r "$MODELS_DIR")"
else
  "${RUN[@]}" models fetch --dir "$(r "$MODELS_DIR")"
fi

# 5. the unit, pointing at the venv, and enabled
install -d -m 0755 "$(r "$UNIT_DIR")" "$(r "$UNIT_DIR/multi-user.target.wants")"
sed "s|/opt/stopsafe/|$PREFIX/|g" "$SRC/systemd/$UNIT" > "$(r "$UNIT_DIR/$UNIT").tmp"
chmod 0644 "$(r "$UNIT_DIR/$UNIT").tmp"
mv -f "$(r "$UNIT_DIR/$UNIT").tmp" "$(r "$UNIT_DIR/$UNIT")"
if systemd_running; then
  systemctl daemon-reload
  systemctl enable "$UNIT"
  if [ "$NO_START" = 1 ]; then
    say "--no-start: not started"
  elif [ "$UPGRADE" = 0 ]; then
    say "not started yet: edit $CONFIG, commission, then: systemctl start $UNIT"
  else
    systemctl restart "$UNIT" || say "the daemon did not start: journalctl -u stopsafe"
  fi
else
  ln -sfn "$UNIT_DIR/$UNIT" "$(r "$WANTS")"
fi
say "installed; enabled $UNIT${ROOT:+ in $ROOT}"
say "commission it: ${PREFIX}/bin/stopsafe commission -c $CONFIG -o DIR"
