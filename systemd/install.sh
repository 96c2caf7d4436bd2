#!/usr/bin/env bash
# Install modemd as a systemd service on Raspberry Pi OS (Debian 12 "bookworm" or later).
#
#   sudo ./systemd/install.sh [--start]
#
# Safe to run again, e.g. after `git pull` to upgrade: the virtualenv is reused and modemd
# reinstalled into it, an existing /etc/modemd/modemd.yaml is never overwritten, and the user,
# group and folders are only created when missing. Run with --help for the options.
set -euo pipefail

readonly USER_NAME=modemd
readonly GROUP_NAME=modemd
readonly SERIAL_GROUP=dialout   # owns /dev/ttyUSB* and /dev/ttyACM* on Debian
readonly MIN_PYTHON=3.11

PROG=$(basename "$0")
readonly PROG

usage() {
    cat <<EOF
Usage: $PROG [options]

Installs modemd: a virtualenv in /opt/modemd/venv, the system user and group "$USER_NAME",
the spool /var/spool/modemd (outgoing, done, failed, incoming), the state folder
/var/lib/modemd, the configuration /etc/modemd/modemd.yaml (only if absent), the systemd
units modemd.service and modemd-web.service (the web console; both enabled) and a udev rule
example for the modem.

Options:
  --root DIR       install the files under DIR instead of / (tests, staging). The user,
                   group and systemd steps still act on this machine (systemctl enable gets
                   --root=DIR); combine with --no-system to change nothing outside DIR.
                   The virtualenv records its own absolute path, so for an SD card image
                   run this script inside the image's chroot without --root instead.
  --no-system      skip every step that needs root: useradd, groupadd, usermod, chown,
                   chgrp and systemctl (they are printed instead)
  --start          (re)start the service once it is installed and enabled
  --source DIR     the modemd checkout to install (default: the folder above this script)
  --python PATH    the Python ${MIN_PYTHON}+ used to create the virtualenv (default: python3)
  --pip-args ARGS  extra arguments for pip install, split on spaces
                   (e.g. "--no-index --find-links /media/usb/wheels" for an offline Pi)
  -h, --help       show this help
EOF
}

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage_error() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    printf 'Try: %s --help\n' "$PROG" >&2
    exit 2
}

step() {
    printf '==> %s\n' "$*"
}

ROOT=""
SYSTEM=1
START=0
SOURCE=""
PYTHON=python3
PIP_ARGS=()

need_value() {
    # $1: the option, $2: the number of arguments left including the option
    if (($2 < 2)); then
        usage_error "$1 needs a value"
    fi
}

while (($# > 0)); do
    case $1 in
        --root) need_value "$1" $#; ROOT=$2; shift 2 ;;
        --root=*) ROOT=${1#*=}; shift ;;
        --source) need_value "$1" $#; SOURCE=$2; shift 2 ;;
        --source=*) SOURCE=${1#*=}; shift ;;
        --python) need_value "$1" $#; PYTHON=$2; shift 2 ;;
        --python=*) PYTHON=${1#*=}; shift ;;
        --pip-args) need_value "$1" $#; read -r -a PIP_ARGS <<<"$2"; shift 2 ;;
        --pip-args=*) read -r -a PIP_ARGS <<<"${1#*=}"; shift ;;
        --no-system) SYSTEM=0; shift ;;
        --start) START=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown option: $1" ;;
    esac
done

if ((START && !SYSTEM)); then
    usage_error "--start needs systemctl, which --no-system skips"
fi

# Files this script creates must be readable by the modemd user whatever the caller's umask
# (sudo keeps a stricter one: with 077 the service could not even read its own virtualenv).
umask 022

# --- Paths ---------------------------------------------------------------------------------
if [[ -n $ROOT ]]; then
    mkdir -p -- "$ROOT"
    ROOT=$(cd -- "$ROOT" && pwd)
    [[ $ROOT == / ]] && ROOT=""
fi
if [[ -z $SOURCE ]]; then
    SOURCE=$(dirname -- "${BASH_SOURCE[0]}")/..
fi
[[ -d $SOURCE ]] || die "--source $SOURCE: no such folder"
# Absolute, always: pip reads a bare relative name such as "src" as a package on PyPI.
SOURCE=$(cd -- "$SOURCE" && pwd)
for file in pyproject.toml config/modemd.example.yaml systemd/modemd.service \
    systemd/modemd-web.service systemd/99-modemd.rules; do
    [[ -f $SOURCE/$file ]] || die "$SOURCE does not look like a modemd checkout: $file is missing"
done

readonly VENV=/opt/modemd/venv
readonly SPOOL=/var/spool/modemd
readonly STATE=/var/lib/modemd
readonly CONFIG_DIR=/etc/modemd
readonly CONFIG=$CONFIG_DIR/modemd.yaml
readonly UNIT=/etc/systemd/system/modemd.service
readonly WEB_UNIT=/etc/systemd/system/modemd-web.service
readonly UDEV_EXAMPLE=/etc/udev/rules.d/99-modemd.rules.example
readonly LINK=/usr/local/bin/modemd

if ((SYSTEM)); then
    if [[ -z $ROOT && $EUID -ne 0 ]]; then
        die "run as root (sudo $0), or try it unprivileged with --root DIR --no-system"
    fi
    if [[ -n $ROOT ]]; then
        printf '%s: note: --root without --no-system: the user, group and systemd steps act on this machine\n' \
            "$PROG" >&2
    fi
fi

# Runs a command that needs root, or only prints it with --no-system.
system() {
    if ((SYSTEM)); then
        "$@"
    else
        printf '    skipped (--no-system): %s\n' "$*"
    fi
}

# --- Python ----------------------------------------------------------------------------------
step "Checking $PYTHON"
command -v -- "$PYTHON" >/dev/null 2>&1 \
    || die "$PYTHON not found; modemd needs Python $MIN_PYTHON or later (sudo apt install python3 python3-venv)"
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
    || die "$PYTHON does not run"
major=${version%%.*}
minor=${version#*.}
if ! [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]]; then
    die "$PYTHON printed an unexpected version: $version"
fi
if ((major < ${MIN_PYTHON%%.*} || (major == ${MIN_PYTHON%%.*} && minor < ${MIN_PYTHON#*.}))); then
    die "modemd needs Python $MIN_PYTHON or later; $PYTHON is $version. Raspberry Pi OS 12 \"bookworm\" ships 3.11; on an older system, upgrade the OS or pass --python /path/to/python3.11"
fi
echo "    Python $version"

# --- Virtualenv and modemd ---------------------------------------------------------------------
step "Installing modemd from $SOURCE into $ROOT$VENV"
# Reused if it runs the same Python version (after an OS upgrade to a newer Python, the old
# virtualenv's packages would be invisible: it is rebuilt).
venv_version=""
if [[ -x $ROOT$VENV/bin/python ]]; then
    venv_version=$("$ROOT$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' \
        2>/dev/null) || venv_version=""
fi
if [[ $venv_version == "$version" ]]; then
    echo "    reusing the existing virtualenv"
else
    [[ -e $ROOT$VENV ]] && echo "    rebuilding the virtualenv (Python ${venv_version:-unknown} -> $version)"
    rm -rf -- "$ROOT$VENV"
    mkdir -p -- "$(dirname -- "$ROOT$VENV")"
    "$PYTHON" -m venv -- "$ROOT$VENV" \
        || die "could not create the virtualenv; on Debian and Raspberry Pi OS: sudo apt install python3-venv"
fi
# Not editable: the service runs the installed copy, never the checkout. pip rebuilds and
# reinstalls a local folder every time, so running this script again upgrades modemd.
"$ROOT$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade \
    ${PIP_ARGS[@]+"${PIP_ARGS[@]}"} -- "$SOURCE" \
    || die "pip install failed (see above); a Pi without internet access can use --pip-args \"--no-index --find-links DIR\""
installed=$("$ROOT$VENV/bin/modemd" --version) || die "$ROOT$VENV/bin/modemd does not run (see above)"
echo "    $installed"
# So that operators can type `modemd status`. A file that is not a link is someone else's.
mkdir -p -- "$ROOT$(dirname -- "$LINK")"
if [[ -e $ROOT$LINK && ! -L $ROOT$LINK ]]; then
    echo "    left $LINK alone (not a link); run $VENV/bin/modemd"
else
    ln -sfn -- "$VENV/bin/modemd" "$ROOT$LINK"
    echo "    $LINK -> $VENV/bin/modemd"
fi

# --- User and group ----------------------------------------------------------------------------
# getent exits 2 when the name is unknown.
exists() {
    # $1: passwd or group, $2: the name
    local rc=0
    getent "$1" "$2" >/dev/null || rc=$?
    case $rc in
        0) return 0 ;;
        2) return 1 ;;
        *) die "getent $1 $2 failed (exit $rc)" ;;
    esac
}

step "User $USER_NAME and group $GROUP_NAME"
if ((SYSTEM)); then
    if ! exists group "$SERIAL_GROUP"; then
        groupadd --system "$SERIAL_GROUP"
    fi
    if exists group "$GROUP_NAME"; then
        echo "    group $GROUP_NAME exists"
    else
        groupadd --system "$GROUP_NAME"
    fi
    if exists passwd "$USER_NAME"; then
        echo "    user $USER_NAME exists; making sure it is in group $SERIAL_GROUP"
        usermod --append --groups "$SERIAL_GROUP" "$USER_NAME"
    else
        useradd --system --gid "$GROUP_NAME" --groups "$SERIAL_GROUP" \
            --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin \
            --comment "modemd SMS alert daemon" "$USER_NAME"
    fi
else
    system groupadd --system "$GROUP_NAME"
    system useradd --system --gid "$GROUP_NAME" --groups "$SERIAL_GROUP" --home-dir "$STATE" \
        --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
fi

# --- Folders -------------------------------------------------------------------------------------
# The spool is setgid (2770): files operators drop into outgoing/ belong to group modemd
# whoever wrote them, and the daemon (UMask=0007) leaves its own files group-writable.
step "Spool $SPOOL and state $STATE"
spool_dirs=("$ROOT$SPOOL")
for sub in outgoing "done" failed incoming; do
    spool_dirs+=("$ROOT$SPOOL/$sub")
done
mkdir -p -- "${spool_dirs[@]}" "$ROOT$STATE"
# Owner first, then the mode: the setgid bit is set last so no chown can clear it.
system chown "$USER_NAME:$GROUP_NAME" -- "${spool_dirs[@]}" "$ROOT$STATE"
chmod 2770 -- "${spool_dirs[@]}" "$ROOT$STATE"

# --- Configuration -------------------------------------------------------------------------------
step "Configuration $CONFIG"
mkdir -p -- "$ROOT$CONFIG_DIR"
# The full example, kept up to date, to compare with after an upgrade.
install -m 0644 -- "$SOURCE/config/modemd.example.yaml" "$ROOT$CONFIG_DIR/modemd.example.yaml"
if [[ -e $ROOT$CONFIG ]]; then
    echo "    kept the existing $CONFIG"
    # It holds the SIM PIN: never readable by everyone.
    world_readable=$(find "$ROOT$CONFIG" -maxdepth 0 -perm /o=rwx)
    if [[ -n $world_readable ]]; then
        chmod o-rwx -- "$ROOT$CONFIG"
        echo "    $CONFIG was readable by every user: removed the permissions of others"
    fi
else
    # 0640 root:modemd: it holds the SIM PIN; the daemon and the operators (group modemd)
    # read it, only root changes it.
    install -m 0640 -- "$SOURCE/config/modemd.example.yaml" "$ROOT$CONFIG"
    system chgrp "$GROUP_NAME" -- "$ROOT$CONFIG"
    echo "    installed from config/modemd.example.yaml"
fi

# --- systemd and udev ----------------------------------------------------------------------------
step "systemd units $UNIT and $WEB_UNIT"
mkdir -p -- "$ROOT$(dirname -- "$UNIT")" "$ROOT$(dirname -- "$UDEV_EXAMPLE")"
install -m 0644 -- "$SOURCE/systemd/modemd.service" "$ROOT$UNIT"
install -m 0644 -- "$SOURCE/systemd/modemd-web.service" "$ROOT$WEB_UNIT"
# An example only: udev reads *.rules files, so this one is inactive until renamed, and no
# `udevadm control --reload` is needed now.
install -m 0644 -- "$SOURCE/systemd/99-modemd.rules" "$ROOT$UDEV_EXAMPLE"
echo "    udev example: $UDEV_EXAMPLE (inactive until renamed to 99-modemd.rules)"

system systemctl daemon-reload
for unit in modemd.service modemd-web.service; do
    if [[ -n $ROOT ]]; then
        system systemctl --root="$ROOT" enable "$unit"
    else
        system systemctl enable "$unit"
    fi
done
if ((START)); then
    step "Starting modemd and its web console"
    # restart, not start: after an upgrade the running daemon must load the new code. On
    # SIGTERM it finishes the SMS part in flight and saves its state first.
    systemctl restart modemd.service
    systemctl restart modemd-web.service
    systemctl --no-pager --lines=0 status modemd.service modemd-web.service || true
fi

# --- Next steps ----------------------------------------------------------------------------------
operator=${SUDO_USER:-<operator>}
[[ $operator == root ]] && operator="<operator>"
cat <<EOF

$installed is installed. Next steps:

 1. Edit $CONFIG (as root): modem.port (the modem's AT port: a /dev/serial/by-id/... link,
    or /dev/modem-sms with the udev rule below) and modem.pin (the SIM PIN, or null).
    Also alerts.reply_number, inbound.operator_numbers and limits: for your SIM plan.

 2. Stop ModemManager from grabbing the modem, or it will send its own AT commands:
    either  sudo systemctl disable --now ModemManager   (if nothing else uses it),
    or keep your modem's block in $UDEV_EXAMPLE, then
        sudo cp $UDEV_EXAMPLE ${UDEV_EXAMPLE%.example}
        sudo udevadm control --reload
    and unplug and replug the modem.

 3. Check the chain from port to network (the service must not hold the port meanwhile):
        sudo systemctl stop modemd
        sudo -u $USER_NAME $VENV/bin/modemd doctor
        sudo systemctl start modemd

 4. Let operators drop alerts and run modemd status: add them to group $GROUP_NAME, e.g.
        sudo usermod -aG $GROUP_NAME $operator
    (it takes effect at their next login).

 5. Follow the service:  systemctl status modemd   journalctl -u modemd -f   modemd status

 6. The web console (modemd-web.service) listens on web.listen, 127.0.0.1:8080 by default;
    create its first account, then open it (through a reverse proxy for other machines):
        sudo -u $USER_NAME $VENV/bin/modemd users add LOGIN --role admin
EOF
if ((!START)); then
    echo "    Both are enabled and start at boot; start them now with:"
    echo "        sudo systemctl start modemd modemd-web"
fi
